"""The `disable` noun: `processing-engine disable <kind> ...` dispatches to the modules below."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each module here exposes `register_disable(kinds)`, adding its kinds to the `disable`
# sub-commands with `handler=` set. Add modules here to add kinds.
MODULES: tuple[str, ...] = ("triggers",)


def register(subparsers: Subparsers) -> None:
    """Add the `disable` subcommand and its kinds."""
    add_noun(subparsers, "disable", help="disable a resource of a running server",
             description="Disable a resource of a running server.", modules=MODULES)
