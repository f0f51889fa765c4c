"""The `run` noun: `processing-engine run trigger` runs a schedule trigger once, now."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..engine import Engine
from ..errors import EngineError
from ..runtime import CallOutcome
from .write import add_location_options

_DESCRIPTION = (
    "Run a schedule trigger (cron: or every:) of database DB once, now, in this process, "
    "against the data directory: the plugin gets CALL_TIME (default now) as its call_time, "
    "its writes are stored, and the run shows in the trigger's log. Prints the outcome, then "
    "every log line of the run. Disabled triggers can be run too. Exit status: 0 when the "
    "plugin succeeded, 1 when it failed or the trigger cannot be run, 2 for a usage error."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `run` subcommand and its `trigger` kind."""
    parser = subparsers.add_parser(
        "run", help="run something once (run trigger: a schedule trigger, now)",
        description="Run something once, now: trigger.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    trigger = kinds.add_parser("trigger", help="run a schedule trigger once, now",
                               description=_DESCRIPTION)
    add_location_options(trigger)
    plugin_dir = os.environ.get("INFLUXDB3_PLUGIN_DIR")
    trigger.add_argument(
        "--plugin-dir", type=Path, default=plugin_dir, required=plugin_dir is None,
        help="the plugin directory [INFLUXDB3_PLUGIN_DIR]",
    )
    trigger.add_argument(
        "--call-time", type=_call_time, default=None, metavar="ISO",
        help="the tick the plugin sees, ISO 8601 (naive means UTC; default now)",
    )
    trigger.add_argument("name", metavar="NAME", help="the trigger's name")
    trigger.set_defaults(handler=run)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _call_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2025-01-01T06:00:00 or "
            f"2025-01-01T06:00:00+02:00)") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    """Run the trigger once and print its outcome and log lines; see `_DESCRIPTION`."""
    try:
        engine = Engine(args.plugin_dir, data_dir=args.data_dir, background=False,
                        watch_plugins=False)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        with engine:
            outcome = engine.run_trigger(args.database, args.name, call_time=args.call_time)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(describe(args.name, outcome))
    for line in outcome.log_lines:
        print(f"  {line}")
    if outcome.traceback:
        print(outcome.traceback.rstrip("\n"), file=sys.stderr)
    return 0 if outcome.ok else 1


def describe(name: str, outcome: CallOutcome) -> str:
    """One line: how the run ended, its attempts, lines written and duration."""
    attempts = f"{outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}"
    parts = [attempts, f"{outcome.lines_written} lines written",
             f"{outcome.duration_seconds * 1000:.1f} ms"]
    if outcome.timed_out:
        parts.append("over its timeout")
    text = f"trigger {name}: {outcome.status} ({', '.join(parts)})"
    return text if outcome.error is None else f"{text}: {outcome.error}"
