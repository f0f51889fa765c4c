"""The `enable` noun: `processing-engine enable <kind> ...` dispatches to the modules below."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each module here exposes `register_enable(kinds)`, adding its kinds to the `enable`
# sub-commands with `handler=` set. Add modules here to add kinds.
MODULES: tuple[str, ...] = ("triggers",)


def register(subparsers: Subparsers) -> None:
    """Add the `enable` subcommand and its kinds."""
    add_noun(subparsers, "enable", help="enable a resource of a running server",
             description="Enable a resource of a running server.", modules=MODULES)
