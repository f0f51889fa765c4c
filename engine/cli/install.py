"""The `install` verb: `processing-engine install package ...` (see `engine.cli.plugins`)."""

from __future__ import annotations

import argparse

from .plugins import register_install


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `install` subcommand and its `package` kind."""
    register_install(subparsers)
