"""The `update` noun: `processing-engine update <kind> ...` dispatches to the modules below."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each module here exposes `register_update(kinds)`, adding its kinds (e.g. `trigger`) to the
# `update` sub-commands with `handler=` set. Add modules here to add kinds.
UPDATE_MODULES: tuple[str, ...] = ("plugins",)


def register(subparsers: Subparsers) -> None:
    """Add the `update` subcommand and its kinds."""
    add_noun(subparsers, "update", help="update a resource (trigger, ...)",
             description="Update a resource on a running server, e.g. a trigger's plugin code.",
             modules=UPDATE_MODULES)
