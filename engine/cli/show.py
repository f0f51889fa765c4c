"""The `show` noun: `processing-engine show <kind> ...` dispatches to the modules below."""

from __future__ import annotations

import argparse
import importlib

# Each module here exposes `register_show(kinds)`, adding its kinds (e.g. `plugins`) to the
# `show` sub-commands with `handler=` set. Add modules here to add kinds.
SHOW_MODULES: tuple[str, ...] = ("plugins",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `show` subcommand and its kinds."""
    parser = subparsers.add_parser(
        "show", help="list resources of a running server (plugins, ...)",
        description="List resources of a running server, e.g. every trigger's plugin files.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for name in SHOW_MODULES:
        importlib.import_module(f"{__package__}.{name}").register_show(kinds)
