"""The `update` noun: `processing-engine update <kind> ...` dispatches to the modules below."""

from __future__ import annotations

import argparse
import importlib

# Each module here exposes `register_update(kinds)`, adding its kinds (e.g. `trigger`) to the
# `update` sub-commands with `handler=` set. Add modules here to add kinds.
UPDATE_MODULES: tuple[str, ...] = ("plugins",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `update` subcommand and its kinds."""
    parser = subparsers.add_parser(
        "update", help="update a resource (trigger, ...)",
        description="Update a resource on a running server, e.g. a trigger's plugin code.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for name in UPDATE_MODULES:
        importlib.import_module(f"{__package__}.{name}").register_update(kinds)
