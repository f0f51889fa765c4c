"""The `test` verb: dry-run a WAL, schedule or request plugin against a server or fully locally."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .remote import CliFailure, add_connection_options, client

_DESCRIPTION = (
    "Run a plugin once without a trigger and print what it did as JSON: log_lines, "
    "database_writes (captured, never applied) and errors (with tracebacks), plus trigger_time "
    "for schedule plugins and response for request plugins. By default the server at --host "
    "runs it (POST /api/v3/plugin_test/KIND, with an admin --token); with --local an in-memory "
    "engine runs it here, with no server, over the plugins in --plugin-dir and the line "
    "protocol in --fixture as the data its queries see. Exit status: 0 when errors is empty, "
    "1 when the plugin failed or wrote bad lines (or the server refused the test), 2 for a "
    "usage error."
)
_KINDS = ("wal_plugin", "schedule_plugin", "request_plugin")

Payload = dict[str, Any]


class UsageProblem(Exception):
    """The options do not make a test (exit status 2)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `test wal_plugin`, `test schedule_plugin` and `test request_plugin`."""
    parser = subparsers.add_parser(
        "test", help="dry-run a plugin (server or --local)", description=_DESCRIPTION
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    wal = _kind_parser(kinds, "wal_plugin", "run process_writes over line protocol")
    source = wal.add_mutually_exclusive_group(required=True)
    source.add_argument("--lp", help="the input line protocol (nanosecond timestamps)")
    source.add_argument(
        "--file", type=Path, help="a file of input line protocol, read here (not on the server)"
    )
    wal.add_argument(
        "--batch-lines",
        type=int,
        default=None,
        metavar="N",
        help="replay the input N lines at a time, one plugin call per batch, "
        "sharing the test cache (prints a JSON array of results)",
    )
    schedule = _kind_parser(kinds, "schedule_plugin", "run process_scheduled_call once")
    schedule.add_argument(
        "--schedule",
        help="a cron expression (6 fields seconds first, 7, "
        "or 5) or every:DURATION; the plugin runs now for its next tick "
        "(default every second)",
    )
    request = _kind_parser(kinds, "request_plugin", "run process_request on a request")
    request.add_argument(
        "--query-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter (repeatable)",
    )
    request.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    body = request.add_mutually_exclusive_group()
    body.add_argument("--body", default=None, help="the request body")
    body.add_argument("--body-file", type=Path, default=None, help="a file holding the body")


def _kind_parser(
    kinds: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    parser = kinds.add_parser(name, help=summary, description=f"{summary}. {_DESCRIPTION}")
    parser.add_argument(
        "filename",
        metavar="FILENAME",
        help="the plugin file or directory, relative to the plugin directory",
    )
    database = os.environ.get("INFLUXDB3_DATABASE_NAME")
    parser.add_argument(
        "-d",
        "--database",
        default=database,
        required=database is None,
        help="the plugin's database [INFLUXDB3_DATABASE_NAME]",
    )
    parser.add_argument(
        "--input-arguments",
        action="append",
        default=[],
        metavar="K=V,...",
        help="arguments for the plugin, comma-separated key=value pairs (repeatable)",
    )
    parser.add_argument(
        "--cache-name",
        default=None,
        help="the test cache namespace (state kept between tests of one name)",
    )
    add_connection_options(parser)
    local = parser.add_argument_group("local runs (no server)")
    local.add_argument(
        "--local",
        action="store_true",
        help="run in an in-memory engine here instead of on a server",
    )
    local.add_argument(
        "--plugin-dir",
        type=Path,
        default=Path(os.environ.get("INFLUXDB3_PLUGIN_DIR", ".")),
        help="with --local: the plugin directory (default: the current "
        "directory) [INFLUXDB3_PLUGIN_DIR]",
    )
    local.add_argument(
        "--fixture",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="with --local: line protocol written to the database first, for "
        "the plugin's queries (repeatable)",
    )
    local.add_argument(
        "--fixture-precision",
        default="auto",
        help="timestamp unit of the fixture files: auto (default), ns, us, ms, s",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Build the test, run it, print the JSON and return the exit status."""
    try:
        calls = _payloads(args)
        results = _run_local(args, calls) if args.local else _run_remote(args, calls)
    except UsageProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CliFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.status
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    shown: Any = results if args.kind == "wal_plugin" and args.batch_lines else results[0]
    print(json.dumps(shown, indent=2))
    return 1 if any(result.get("errors") for result in results) else 0


def _payloads(args: argparse.Namespace) -> list[Payload]:
    """The request bodies of the test (several when replaying in batches)."""
    common: Payload = {
        "filename": args.filename,
        "database": args.database,
        "input_arguments": parse_arguments(args.input_arguments),
        "cache_name": args.cache_name,
    }
    if args.kind == "wal_plugin":
        lp = args.lp if args.lp is not None else args.file.read_text(encoding="utf-8")
        if args.batch_lines is None:
            return [{**common, "input_lp": lp}]
        if args.batch_lines < 1:
            raise UsageProblem(f"--batch-lines must be at least 1, got {args.batch_lines}")
        from ..replay import split_lp

        return [{**common, "input_lp": chunk} for chunk in split_lp(lp, args.batch_lines)]
    if args.kind == "schedule_plugin":
        return [{**common, "schedule": args.schedule}]
    body = (
        args.body
        if args.body is not None
        else (args.body_file.read_text(encoding="utf-8") if args.body_file is not None else "")
    )
    return [
        {
            **common,
            "query_parameters": _pairs(args.query_param, "=", "--query-param"),
            "request_headers": _pairs(args.header, ":", "--header"),
            "request_body": body,
        }
    ]


def parse_arguments(values: list[str]) -> dict[str, str] | None:
    """`--input-arguments` values (`k=v,k2=v2`, repeatable) as a dict; None when absent."""
    if not values:
        return None
    arguments: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            key, equals, rest = item.partition("=")
            if not equals or not key.strip():
                raise UsageProblem(
                    f"--input-arguments item {item!r} must be formatted as key=value"
                )
            arguments[key.strip()] = rest
    return arguments


def _pairs(values: list[str], separator: str, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, found, rest = value.partition(separator)
        if not found or not key.strip():
            raise UsageProblem(f"{option} {value!r} must be formatted as NAME{separator}VALUE")
        pairs[key.strip()] = rest.strip() if separator == ":" else rest
    return pairs


def _run_remote(args: argparse.Namespace, calls: list[Payload]) -> list[Payload]:
    server = client(args)
    path = "/api/v3/plugin_test/" + args.kind.removesuffix("_plugin")
    results = []
    for payload in calls:
        answer = server.request(
            "POST", path, body={k: v for k, v in payload.items() if v is not None}
        )
        decoded = json.loads(answer)
        if not isinstance(decoded, dict):
            raise CliFailure(f"the server answered {path} with {answer[:200]!r}, not an object")
        results.append(decoded)
    return results


def _run_local(args: argparse.Namespace, calls: list[Payload]) -> list[Payload]:
    from ..clock import SystemClock
    from ..engine import Engine

    if not args.plugin_dir.is_dir():
        raise UsageProblem(f"--plugin-dir {args.plugin_dir} is not a directory")
    fixtures = [path.read_bytes() for path in args.fixture]
    with Engine(
        args.plugin_dir, background=False, watch_plugins=False, clock=SystemClock()
    ) as engine:
        if args.database not in engine.list_databases():
            engine.create_database(args.database)
        for data in fixtures:
            engine.write_lp(
                args.database, data, precision=args.fixture_precision, accept_partial=False
            )
        method: Callable[..., Any] = getattr(engine, f"test_{args.kind}")
        return [method(payload.pop("filename"), **payload).to_dict() for payload in calls]
