"""The `delete` noun: `processing-engine delete <kind> ...` dispatches to the modules below."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each module here exposes `register_delete(kinds)`, adding its kinds to the `delete`
# sub-commands with `handler=` set. Add modules here to add kinds.
MODULES: tuple[str, ...] = ("databases", "triggers")


def register(subparsers: Subparsers) -> None:
    """Add the `delete` subcommand and its kinds."""
    add_noun(subparsers, "delete", help="delete a resource of a running server",
             description="Delete a resource of a running server.", modules=MODULES)
