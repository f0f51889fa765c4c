"""The `write` verb: write line protocol from a file or stdin into a data directory."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from ..clock import SystemClock
from ..errors import EngineError, WriteError
from ..storage import Storage

_DESCRIPTION = (
    "Write line protocol from FILE (or stdin with '-' or no FILE) into database DB: of a running "
    "server (-H/--host, --token) through /api/v3/write_lp, or of a data directory (--data-dir), "
    "durably (the WAL is fsynced before the command returns). Unknown databases are created. "
    "Each refused line is reported on stderr with its line number. Exit status: 0 when every "
    "line was written, 1 when a line was refused or nothing could be written, 2 for a usage "
    "error."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `write` subcommand."""
    parser = subparsers.add_parser(
        "write", help="write line protocol to a server or a data directory",
        description=_DESCRIPTION
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
    """Where to work: `--data-dir` (locally) or `-H/--host` and `--token` (a running server),
    and `-d/--database`, defaulting to InfluxDB 3's environment variables."""
    parser.add_argument(
        "--data-dir", type=Path, default=os.environ.get("INFLUXDB3_DB_DIR"),
        help="work on this data directory, with no server [INFLUXDB3_DB_DIR]",
    )
    parser.add_argument(
        "-H", "--host", default=None,
        help="work on the server at this URL (default http://127.0.0.1:8181 when no data "
        "directory is given) [INFLUXDB3_HOST_URL]",
    )
    parser.add_argument("--token", default=os.environ.get("INFLUXDB3_AUTH_TOKEN"),
                        help="with a server: a token [INFLUXDB3_AUTH_TOKEN]")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="with a server: seconds to wait for it (default 60)")
    database = os.environ.get("INFLUXDB3_DATABASE_NAME")
    parser.add_argument(
        "-d",
        "--database",
        default=database,
        required=database is None,
        help="database name [INFLUXDB3_DATABASE_NAME]",
    )


def server_url(args: argparse.Namespace) -> str | None:
    """The server to work on, or None to work on the data directory.

    An explicit `--host` wins, then a data directory, then `INFLUXDB3_HOST_URL`, then the
    default server address, as `influxdb3` does.
    """
    from .remote import DEFAULT_HOST

    if args.host:
        return str(args.host)
    if args.data_dir is not None:
        return None
    return os.environ.get("INFLUXDB3_HOST_URL", DEFAULT_HOST)


def run(args: argparse.Namespace) -> int:
    """Write the input and report the outcome; see `_DESCRIPTION` for exit statuses."""
    from .remote import CliFailure

    try:
        data = _read_input(args.file)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        host = server_url(args)
        if host is not None:
            return _write_to_server(args, host, data)
    except CliFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.status
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


def _write_to_server(args: argparse.Namespace, host: str, data: bytes) -> int:
    """POST the lines to the server's `/api/v3/write_lp`; line errors as the local write."""
    from .remote import CliFailure, ServerClient

    query = {"db": args.database, "precision": args.precision,
             "accept_partial": "true" if args.accept_partial else "false"}
    try:
        ServerClient(host, args.token, args.timeout).request(
            "POST", "/api/v3/write_lp", query=query, content=data)
    except CliFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        _print_refused(_line_errors(failure.body))
        return 1
    print(f"wrote the lines to database {args.database!r} on {host}")
    return 0


def _line_errors(body: bytes) -> list[SimpleNamespace]:
    """The bad lines of a refused or partial write, from the reference's error body."""
    try:
        items = json.loads(body).get("data") or []
    except (ValueError, AttributeError):
        return []
    return [SimpleNamespace(line_number=item.get("line_number", "?"),
                            message=item.get("error_message", ""),
                            original_line=item.get("original_line", ""))
            for item in items if isinstance(item, dict)]


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
