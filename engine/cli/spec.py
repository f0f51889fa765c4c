"""The `spec` verb: validate a trigger specification and show its next fire times."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clock import SystemClock
from ..errors import TriggerSpecError
from ..spec import TriggerSpec

_DESCRIPTION = (
    "Validate a trigger specification (table:NAME, all_tables, cron:EXPR, every:DURATION, "
    "request:PATH) and print its canonical form, its kind and, for schedules, the next fire "
    "times in UTC. Exits with status 2 when the specification is invalid."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `spec` subcommand."""
    parser = subparsers.add_parser(
        "spec", help="check a trigger specification and list its next fire times",
        description=_DESCRIPTION,
    )
    parser.add_argument("text", metavar="TEXT", help="the specification, e.g. 'cron:0 0 6 * * 1-5'")
    parser.add_argument(
        "--next", dest="count", type=int, default=5, metavar="N",
        help="how many fire times to list for cron: and every: (default 5)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="ISO",
        help="list fire times after this ISO 8601 time (naive means UTC; default now)",
    )
    parser.add_argument(
        "--timezone", metavar="TZ",
        help="match cron: on this IANA zone's wall clock, e.g. Europe/Berlin (default UTC)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the specification's canonical form, kind and next fire times; 2 when invalid."""
    try:
        spec = TriggerSpec.parse(args.text)
        zone = _zone(args.timezone)
        start = _start(args.start)
        if args.count < 0:
            raise _UsageError(f"--next must be 0 or more, got {args.count}")
    except (TriggerSpecError, _UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"canonical: {spec}")
    print(f"kind: {spec.kind}")
    if spec.is_schedule:
        _print_fire_times(spec, start, zone, args.count)
    return 0


class _UsageError(Exception):
    """A bad option value; only ever caught in `run`."""


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _UsageError(f"--timezone: unknown time zone {name!r}") from None


def _start(text: str | None) -> datetime:
    if text is None:
        return SystemClock().now()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"--from: {text!r} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _print_fire_times(spec: TriggerSpec, start: datetime, zone: tzinfo | None, count: int) -> None:
    where = f" on the {zone} wall clock" if zone is not None and spec.cron is not None else ""
    print(f"next {count} fire times (UTC{where}) after {start.isoformat()}:")
    moment: datetime | None = start
    for _ in range(count):
        assert moment is not None
        moment = spec.next_after(moment, zone)
        if moment is None:
            print("  (no further fire times)")
            return
        local = f"  ({moment.astimezone(zone).isoformat()} {zone})" if zone is not None else ""
        print(f"  {moment.isoformat()}{local}")
