"""plugins_examples/scheduled_rollup.py driven through the Engine by a manual clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import pytest
from conftest import REPO_ROOT

from engine import Engine, ManualClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)
S = 1_000_000_000
T0_NS = int(T0.timestamp()) * S
EXAMPLES = REPO_ROOT / "plugins_examples"


def _source_lines() -> tuple[str, list[tuple[str, int, float, int]]]:
    """Twenty minutes of cpu points every 20 s for two hosts; host b lacks `load` sometimes."""
    points = []
    lines = []
    for step in range(60):
        for host in ("a", "b"):
            at = T0_NS + step * 20 * S
            usage = round((step * 7 % 13) + (0.5 if host == "b" else 0.25), 2)
            load = step * 3 % 11
            points.append((host, at, usage, load))
            fields = f"usage={usage}" + ("" if host == "b" and step % 4 == 0 else f",load={load}i")
            lines.append(f"cpu,host={host},dc=eu {fields},note=\"n{step}\" {at}")
    return "\n".join(lines), points


def _expected(points: list[tuple[str, int, float, int]], start_ns: int,
              end_ns: int) -> dict[tuple[str, int], dict[str, Any]]:
    buckets: dict[tuple[str, int], list[tuple[float, int | None]]] = defaultdict(list)
    for host, at, usage, load in points:
        if start_ns <= at < end_ns:
            step = (at - T0_NS) // (20 * S)
            kept_load = None if host == "b" and step % 4 == 0 else load
            buckets[(host, at - at % (60 * S))].append((usage, kept_load))
    out = {}
    for key, values in buckets.items():
        usages = [u for u, _ in values]
        loads = [load for _, load in values if load is not None]
        out[key] = {"usage_mean": mean(usages), "usage_min": min(usages),
                    "usage_max": max(usages), "usage_count": len(usages),
                    "load_mean": mean(loads), "load_min": min(loads), "load_max": max(loads),
                    "load_count": len(loads)}
    return out


def _flat(buckets: dict[tuple[str, int], dict[str, Any]]) -> dict[tuple[str, int, str], Any]:
    return {(host, at, key): value for (host, at), values in buckets.items()
            for key, value in values.items()}


def _rollup(engine: Engine) -> dict[tuple[str, int, str], Any]:
    rows = engine.query("db", "SELECT * FROM cpu_rollup ORDER BY time, host")
    return _flat({(r.pop("host"), r.pop("time")): {k: v for k, v in r.items() if k != "dc"}
                  for r in rows})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(clock: ManualClock) -> Iterator[Engine]:
    with Engine(EXAMPLES, clock=clock, background=False, watch_plugins=False) as engine:
        engine.create_database("db")
        yield engine


def _create(engine: Engine, **arguments: str) -> None:
    engine.create_trigger("db", "rollup", plugin_filename="scheduled_rollup.py",
                          trigger_specification="every:5m",
                          trigger_arguments={"source_measurement": "cpu", **arguments})


def _messages(engine: Engine) -> list[str]:
    return [e.message for e in engine.observability.logs_for("db", "rollup")]


def test_each_tick_rolls_up_the_window_before_it(engine: Engine, clock: ManualClock) -> None:
    data, points = _source_lines()
    engine.write_lp("db", data)
    _create(engine)
    clock.advance(timedelta(minutes=5))
    assert engine.run_pending() == 1
    assert _rollup(engine) == pytest.approx(_flat(_expected(points, T0_NS, T0_NS + 300 * S)))
    assert "cpu 00:00:00..00:05:00: 10 bucket(s) written to cpu_rollup" in _messages(engine)
    clock.advance(timedelta(minutes=5))
    assert engine.run_pending() == 1
    assert _rollup(engine) == pytest.approx(_flat(_expected(points, T0_NS, T0_NS + 600 * S)))


def test_types_follow_the_source_fields(engine: Engine, clock: ManualClock) -> None:
    engine.write_lp("db", _source_lines()[0])
    _create(engine)
    clock.advance(timedelta(minutes=5))
    engine.run_pending()
    columns = engine.query("db", "SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'cpu_rollup' ORDER BY column_name")
    types = {c["column_name"]: c["data_type"] for c in columns}
    assert types["load_max"] == "Int64" and types["load_count"] == "Int64"
    assert types["load_mean"] == types["usage_max"] == "Float64"
    assert types["host"] == types["dc"] == "Dictionary(Int32, Utf8)"
    assert "note_count" not in types  # string fields are not aggregated


def test_a_pause_is_caught_up_window_by_window_without_gaps_or_overlaps(
        engine: Engine, clock: ManualClock) -> None:
    data, points = _source_lines()
    engine.write_lp("db", data)
    _create(engine)
    clock.advance(timedelta(minutes=20))  # four ticks missed at once
    assert engine.run_pending() == 4
    assert _rollup(engine) == pytest.approx(_flat(_expected(points, T0_NS, T0_NS + 1200 * S)))
    windows = [m.split(" ")[1].rstrip(":") for m in _messages(engine) if m.startswith("cpu ")]
    assert windows == ["00:00:00..00:05:00", "00:05:00..00:10:00", "00:10:00..00:15:00",
                       "00:15:00..00:20:00"]


def test_running_a_window_again_writes_the_same_points(engine: Engine,
                                                       clock: ManualClock) -> None:
    engine.write_lp("db", _source_lines()[0])
    _create(engine)
    clock.advance(timedelta(minutes=5))
    engine.run_pending()
    first = _rollup(engine)
    outcome = engine.run_trigger("db", "rollup", call_time=datetime(2025, 1, 1, 0, 5))
    assert outcome.ok and outcome.lines_written == 10
    engine.flush()
    assert _rollup(engine) == first


@pytest.mark.parametrize("arguments, expected_columns", [
    ({"fields": "usage", "aggregates": "max;sum"}, {"usage_max", "usage_sum"}),
    ({"interval": "5m", "aggregates": "count"}, {"usage_count", "load_count"}),
], ids=["chosen-fields-and-aggregates", "wider-buckets"])
def test_arguments_choose_fields_aggregates_and_buckets(
        engine: Engine, clock: ManualClock, arguments: dict[str, str],
        expected_columns: set[str]) -> None:
    engine.write_lp("db", _source_lines()[0])
    _create(engine, target_measurement="cpu_5m", **arguments)
    clock.advance(timedelta(minutes=5))
    engine.run_pending()
    rows = engine.query("db", "SELECT * FROM cpu_5m")
    assert set(rows[0]) - {"host", "dc", "time"} == expected_columns
    buckets = {r["time"] for r in rows}
    assert len(buckets) == (1 if arguments.get("interval") == "5m" else 5)


def test_a_missing_table_is_logged_not_an_error(engine: Engine, clock: ManualClock) -> None:
    _create(engine)
    clock.advance(timedelta(minutes=5))
    engine.run_pending()
    assert "no table 'cpu' yet; nothing to roll up" in _messages(engine)
    assert engine.query("db", "SELECT status FROM system.processing_engine_runs") == [
        {"status": "success"}]


@pytest.mark.parametrize("arguments, error", [
    ({"source_measurement": ""}, "ValueError: the source_measurement argument is required"),
    ({"window": "5 minutes"}, "ValueError: window must be a duration such as 30s, 5m, 1h or "
                              "1h30m, got '5 minutes'"),
    ({"interval": "0s"}, "ValueError: interval must be longer than 0s, got '0s'"),
    ({"aggregates": "median"}, "ValueError: unknown aggregates ['median']; use any of mean, min, "
                               "max, sum, count"),
    ({"fields": "note"}, "ValueError: not numeric fields of cpu: note"),
], ids=["no-source", "bad-window", "zero-interval", "bad-aggregate", "string-field"])
def test_bad_arguments_fail_the_run_with_a_clear_error(engine: Engine, arguments: dict[str, str],
                                                       error: str) -> None:
    engine.write_lp("db", _source_lines()[0])
    _create(engine, **arguments)
    outcome = engine.run_trigger("db", "rollup", call_time=datetime(2025, 1, 1, 0, 5))
    assert outcome.status == "error" and outcome.error == error
