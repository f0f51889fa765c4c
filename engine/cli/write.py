"""The `write` verb: write line protocol from a file or stdin into a data directory."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..clock import SystemClock
from ..errors import EngineError, WriteError
from ..storage import Storage

_DESCRIPTION = (
    "Write line protocol from FILE (or stdin with '-' or no FILE) into database DB of the data "
    "directory, durably (the WAL is fsynced before the command returns). Unknown databases are "
    "created. Each refused line is reported on stderr with its line number. Exit status: 0 when "
    "every line was written, 1 when a line was refused or nothing could be written, 2 for a "
    "usage error."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `write` subcommand."""
    parser = subparsers.add_parser(
        "write", help="write line protocol into a data directory", description=_DESCRIPTION
    )
    add_location_options(parser)
    parser.add_argument(
        "--precision",
        default="auto",
        help="timestamp unit: auto (default), ns, us, ms or s (and the long names)",
    )
    parser.add_argument(
        "--no-partial",
        dest="accept_partial",
        action="store_false",
        help="write nothing when any line is bad (default: write the good lines)",
    )
    parser.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="line protocol file, or '-' for stdin"
    )
    parser.set_defaults(handler=run)


def add_location_options(parser: argparse.ArgumentParser) -> None:
    """`--data-dir` and `-d/--database`, defaulting to InfluxDB 3's environment variables."""
    data_dir = os.environ.get("INFLUXDB3_DB_DIR")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir,
        required=data_dir is None,
        help="the engine's data directory [INFLUXDB3_DB_DIR]",
    )
    database = os.environ.get("INFLUXDB3_DATABASE_NAME")
    parser.add_argument(
        "-d",
        "--database",
        default=database,
        required=database is None,
        help="database name [INFLUXDB3_DATABASE_NAME]",
    )


def run(args: argparse.Namespace) -> int:
    """Write the input and report the outcome; see `_DESCRIPTION` for exit statuses."""
    try:
        data = _read_input(args.file)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        storage = Storage(args.data_dir, SystemClock(), background=False)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        result = storage.write(
            args.database, data, precision=args.precision, accept_partial=args.accept_partial
        )
    except WriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _print_refused(exc.errors)
        return 1
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    print(f"wrote {result.lines_written} line(s) to database {args.database!r}")
    _print_refused(result.errors)
    return 1 if result.errors else 0


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def _print_refused(errors: Sequence[object]) -> None:
    for error in errors:
        number = getattr(error, "line_number", "?")
        message = getattr(error, "message", str(error))
        original = getattr(error, "original_line", "")
        print(f"line {number}: {message}: {original}", file=sys.stderr)
