"""The `create` noun: `processing-engine create <kind> ...` dispatches to one module per kind."""

from __future__ import annotations

import argparse
import importlib

# Each kind lives in its own module exposing `register_create(kinds)`, which adds its parser to
# the `create` sub-commands and sets `handler=`. Add `database`, `trigger`, ... here.
CREATE_KINDS: tuple[str, ...] = ("token",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `create` subcommand and its kinds."""
    parser = subparsers.add_parser(
        "create", help="create a resource (token, ...)",
        description="Create a resource: " + ", ".join(CREATE_KINDS) + ".",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for name in CREATE_KINDS:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register_create(kinds)
