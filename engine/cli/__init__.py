"""The `processing-engine` command: argparse subcommands over the Engine."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__

# Each verb lives in its own module exposing `register(subparsers)`; the parser is built from
# this list so verbs can be added without touching each other.
COMMAND_MODULES: tuple[str, ...] = (
    "spec", "serve", "create", "delete", "enable", "disable", "write", "query", "install",
    "update", "show", "test_cmd", "bench", "run",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="processing-engine",
        description="Embeddable InfluxDB 3 processing engine: run Python plugins on writes, "
        "schedules and HTTP requests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return int(handler(args))
