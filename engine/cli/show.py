"""The `show` noun: `processing-engine show <kind> ...` dispatches to the modules below."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each module here exposes `register_show(kinds)`, adding its kinds (e.g. `plugins`) to the
# `show` sub-commands with `handler=` set. Add modules here to add kinds.
SHOW_MODULES: tuple[str, ...] = ("databases", "plugins")


def register(subparsers: Subparsers) -> None:
    """Add the `show` subcommand and its kinds."""
    add_noun(subparsers, "show", help="list resources of a running server (databases, plugins)",
             description="List resources of a running server, e.g. every trigger's plugin files.",
             modules=SHOW_MODULES)
