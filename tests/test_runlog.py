"""The framework's log lines, worded as InfluxDB 3 writes them (reference-server.md §4.1, §4.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.runlog import (
    REQUEST,
    SCHEDULE,
    WAL,
    error_line,
    finished_line,
    format_duration_ns,
    scheduled_error_line,
    start_line,
    write_back_error_line,
)


@pytest.mark.parametrize("kind, tick, line", [
    (WAL, None, "starting execution of wal plugin."),
    (REQUEST, None, "starting execution of request plugin."),
    (SCHEDULE, datetime(2024, 11, 14, 11, 0, tzinfo=UTC),
     "starting execution with scheduled time 2024-11-14 11:00:00 UTC"),
    (SCHEDULE, datetime(2024, 11, 14, 12, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1))),
     "starting execution with scheduled time 2024-11-14 11:00:00 UTC"),
], ids=["wal", "request", "schedule", "schedule-other-zone"])
def test_start_lines(kind: str, tick: datetime | None, line: str) -> None:
    assert start_line(kind, tick) == line


@pytest.mark.parametrize("kind, line", [
    (WAL, "error executing wal plugin: ValueError: boom"),
    (SCHEDULE, "error executing schedule plugin: ValueError: boom"),
    (REQUEST, "error running request plugin: ValueError: boom"),
], ids=["wal", "schedule", "request"])
def test_error_lines(kind: str, line: str) -> None:
    assert error_line(kind, "ValueError: boom") == line


@pytest.mark.parametrize("run_async, line", [
    (False, "error running scheduled plugin: KeyError: 'x'"),
    (True, "error running async scheduled plugin: KeyError: 'x'"),
], ids=["sync", "async"])
def test_the_second_line_of_a_failed_schedule_call(run_async: bool, line: str) -> None:
    assert scheduled_error_line(run_async, "KeyError: 'x'") == line


def test_write_back_errors_name_the_kind() -> None:
    assert write_back_error_line(WAL, "Cannot write: bad line") == (
        "error running wal plugin: error writing back lines: Cannot write: bad line")


@pytest.mark.parametrize("ns, text", [
    (1_234_567, "1ms 234us 567ns"), (2_000_000_000, "2s"), (61_000_000_000, "1m 1s"),
    (3_600_000_000_001, "1h 1ns"), (999, "999ns"), (0, "0s"), (-5, "0s"),
    (12_345, "12us 345ns"), (12_000, "12us"), (999_999, "999us 999ns"), (1_000_000, "1ms"),
    (1, "1ns"), (1_000, "1us"), (1_000_001, "1ms 1ns"),
], ids=["mixed", "seconds", "minutes", "hour-and-a-nanosecond", "nanoseconds", "zero",
        "negative", "micro-and-nanoseconds", "whole-microseconds", "just-under-a-millisecond",
        "one-millisecond", "one-nanosecond", "one-microsecond", "millisecond-and-a-nanosecond"])
def test_durations_render_like_influxdb(ns: int, text: str) -> None:
    assert format_duration_ns(ns) == text
    if ns > 0:
        assert finished_line(ns) == f"finished execution in {text}"
