"""The `create` noun: `processing-engine create <kind> ...` dispatches to one module per kind."""

from __future__ import annotations

from .nouns import Subparsers, add_noun

# Each kind lives in its own module exposing `register_create(kinds)`, which adds its parser to
# the `create` sub-commands and sets `handler=`.
CREATE_KINDS: tuple[str, ...] = ("databases", "triggers", "token")


def register(subparsers: Subparsers) -> None:
    """Add the `create` subcommand and its kinds."""
    add_noun(subparsers, "create", help="create a database, trigger or token",
             description="Create a database, a trigger or an API token.",
             modules=CREATE_KINDS)
