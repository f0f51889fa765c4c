"""The framework's log lines around plugin calls, worded as InfluxDB 3 writes them."""

from __future__ import annotations

from datetime import UTC, datetime

WAL, SCHEDULE, REQUEST = "wal", "schedule", "request"

KIND_LABEL = {WAL: "wal plugin", SCHEDULE: "schedule plugin", REQUEST: "request plugin"}

_UNITS = (("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
          ("ms", 1_000_000), ("us", 1_000), ("ns", 1))


def start_line(kind: str, scheduled_time: datetime | None) -> str:
    """`starting execution ...` for a call of `kind` (schedule calls name their tick in UTC)."""
    if kind == SCHEDULE and scheduled_time is not None:
        tick = scheduled_time if scheduled_time.tzinfo is UTC else scheduled_time.astimezone(UTC)
        # isoformat is several times cheaper than strftime on this per-tick path.
        return f"starting execution with scheduled time {tick.isoformat(' ', 'seconds')[:19]} UTC"
    if kind == WAL:
        return "starting execution of wal plugin."
    return "starting execution of request plugin."


def finished_line(elapsed_ns: int) -> str:
    """`finished execution in 1ms 234us 567ns`."""
    return "finished execution in " + format_duration_ns(elapsed_ns)


def error_line(kind: str, message: str) -> str:
    """The line a failed call logs: `error executing wal plugin: ValueError: boom`.

    Request triggers say `error running request plugin: ...`, as InfluxDB 3 does.
    """
    verb = "running" if kind == REQUEST else "executing"
    return f"error {verb} {KIND_LABEL[kind]}: {message}"


def scheduled_error_line(run_async: bool, message: str) -> str:
    """The second line a failed schedule call logs on InfluxDB 3."""
    mode = "async scheduled" if run_async else "scheduled"
    return f"error running {mode} plugin: {message}"


def write_back_error_line(kind: str, message: str) -> str:
    """A failed write-back of a call's batched lines (logged; the call itself succeeded)."""
    return f"error running {KIND_LABEL[kind]}: error writing back lines: {message}"


def format_duration_ns(ns: int) -> str:
    """Render a duration the way InfluxDB 3's log lines do (`1ms 234us 567ns`)."""
    if ns <= 0:
        return "0s"
    if ns < 1_000_000:  # most plugin calls: spare them the loop below
        micros, nanos = divmod(ns, 1_000)
        if not micros:
            return f"{nanos}ns"
        return f"{micros}us {nanos}ns" if nanos else f"{micros}us"
    parts = []
    for unit, size in _UNITS:
        if ns >= size:
            count, ns = divmod(ns, size)
            parts.append(f"{count}{unit}")
            if not ns:
                break
    return " ".join(parts)
