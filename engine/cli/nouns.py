"""Noun commands (`create`, `show`, `update`): one sub-command whose kinds live in other modules."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import TypeAlias

# A string: argparse's action class cannot be subscripted at run time on Python 3.11.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_noun(subparsers: Subparsers, noun: str, *, help: str, description: str,
             modules: Sequence[str]) -> None:
    """Add `noun` and let each module in `modules` add its kinds with `register_<noun>(kinds)`."""
    parser = subparsers.add_parser(noun, help=help, description=description)
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for name in modules:
        module = importlib.import_module(f"{__package__}.{name}")
        getattr(module, f"register_{noun}")(kinds)
