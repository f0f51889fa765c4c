"""Schedule triggers through the Engine: ticks from a manual clock, catch-up, overlap, timeouts."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ManualClock
from engine.errors import NotAScheduleTrigger
from engine.plugin_side import DEFAULT_MAX_WORKERS

T0 = datetime(2025, 1, 1, tzinfo=UTC)

# Logs the tick it was called for, after checking the contract: naive UTC, whole seconds.
RECORDER = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    assert call_time.tzinfo is None, call_time
    assert call_time.microsecond == 0, call_time
    influxdb3_local.info("tick", call_time.isoformat(), (args or {}).get("tag", ""))
"""

# Shares state with the test through a module the test puts in sys.modules.
GATED = """
import {module} as shared

def process_scheduled_call(influxdb3_local, call_time, args=None):
    shared.enter(call_time)
    try:
        if (args or {}).get("hold", "yes") == "yes":
            shared.gate.wait(30)
    finally:
        shared.leave()
"""


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    (plugin_dir / "recorder.py").write_text(RECORDER)
    (plugin_dir / "slow.py").write_text(
        "import time\n\ndef process_scheduled_call(influxdb3_local, call_time, args=None):\n"
        "    time.sleep(float(args['seconds']))\n")
    (plugin_dir / "wal.py").write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n")
    return plugin_dir


def _engine(plugins: Path, clock: ManualClock, **options: Any) -> Engine:
    engine = Engine(plugins, clock=clock, background=False, **options)
    engine.create_database("db")
    return engine


def _ticks(engine: Engine, name: str = "s") -> list[datetime]:
    lines = [e.message for e in engine.observability.logs_for("db", name)]
    return [datetime.fromisoformat(m.split()[1]).replace(tzinfo=UTC)
            for m in lines if m.startswith("tick ")]


def _walk(engine: Engine, clock: ManualClock, until: datetime, step: timedelta) -> None:
    """Move the clock to `until` in steps, firing what is due after each step (as time passes)."""
    while clock.now() < until:
        clock.advance(min(step, until - clock.now()))
        engine.run_pending()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("spec, settings, start, until, step, expected", [
    ("cron:*/15 * * * * *", None, "2025-01-01T00:00:00", "2025-01-01T00:01:00", 1,
     ["00:00:15", "00:00:30", "00:00:45", "00:01:00"]),
    ("cron:30 0 12 * * *", None, "2025-01-01T00:00:00", "2025-01-03T00:00:00", 600,
     ["2025-01-01T12:00:30", "2025-01-02T12:00:30"]),
    ("cron:*/20 * * * *", None, "2025-01-01T00:00:00", "2025-01-01T01:00:00", 60,
     ["00:20:00", "00:40:00", "01:00:00"]),
    ("cron:0 0 9 * * MON-FRI", None, "2025-01-03T00:00:00", "2025-01-08T00:00:00", 3600,
     ["2025-01-03T09:00:00", "2025-01-06T09:00:00", "2025-01-07T09:00:00"]),
    ("cron:0 0 0 1 JAN,JUL *", None, "2025-01-01T00:00:00", "2026-02-01T00:00:00", 86400 * 7,
     ["2025-07-01T00:00:00", "2026-01-01T00:00:00"]),
    ("cron:0 0 0 1 1 * 2026-2027", None, "2025-06-01T00:00:00", "2029-01-01T00:00:00",
     86400 * 30, ["2026-01-01T00:00:00", "2027-01-01T00:00:00"]),
    ("cron:@hourly", None, "2025-01-01T00:30:00", "2025-01-01T03:00:00", 60,
     ["01:00:00", "02:00:00", "03:00:00"]),
    ("cron:0 0 9 * * *", {"timezone": "America/New_York"}, "2025-03-07T00:00:00",
     "2025-03-11T00:00:00", 3600,
     ["2025-03-07T14:00:00", "2025-03-08T14:00:00", "2025-03-09T13:00:00",
      "2025-03-10T13:00:00"]),
    ("cron:0 30 2 * * *", {"timezone": "Europe/Berlin"}, "2025-03-29T00:00:00",
     "2025-04-01T00:00:00", 900,
     ["2025-03-29T01:30:00", "2025-03-30T01:00:00", "2025-03-31T00:30:00"]),
    ("cron:0 30 2 * * *", {"timezone": "Europe/Berlin"}, "2025-10-25T00:00:00",
     "2025-10-28T00:00:00", 900,
     ["2025-10-25T00:30:00", "2025-10-26T00:30:00", "2025-10-27T01:30:00"]),
    ("cron:0 0 0 * * *", {"timezone": "Asia/Kolkata"}, "2025-01-01T00:00:00",
     "2025-01-03T00:00:00", 1800, ["2025-01-01T18:30:00", "2025-01-02T18:30:00"]),
], ids=["seconds", "second-field-set", "five-fields", "day-names", "month-names", "year-field",
        "shorthand", "new-york-spring-forward", "berlin-skipped-wall-time",
        "berlin-repeated-wall-time", "half-hour-zone"])
def test_cron_schedules_fire_on_their_ticks(plugins: Path, spec: str,
                                            settings: dict[str, str] | None, start: str,
                                            until: str, step: int, expected: list[str]) -> None:
    clock = ManualClock(_utc(start))
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification=spec, trigger_settings=settings)
        _walk(engine, clock, _utc(until), timedelta(seconds=step))
        ticks = _ticks(engine)
    day = start[:10]
    assert ticks == [_utc(t if "T" in t else f"{day}T{t}") for t in expected]


@pytest.mark.parametrize("spec, first, second", [
    ("every:1s", "2025-01-01T00:00:08", "2025-01-01T00:00:09"),
    ("every:15s", "2025-01-01T00:00:15", "2025-01-01T00:00:30"),
    ("every:7m", "2025-01-01T00:05:00", "2025-01-01T00:12:00"),
    ("every:1h", "2025-01-01T01:00:00", "2025-01-01T02:00:00"),
    ("every:1d", "2025-01-02T00:00:00", "2025-01-03T00:00:00"),
    ("every:1w", "2025-01-02T00:00:00", "2025-01-09T00:00:00"),  # epoch was a Thursday
    ("every:1M", "2025-01-02T09:36:00", "2025-02-01T20:09:36"),  # 30.44 days
    ("every:1y", "2026-01-01T00:00:00", "2027-01-01T06:00:00"),  # 365.25 days
    ("every:1h30m", "2025-01-01T01:30:00", "2025-01-01T03:00:00"),
], ids=["second", "15-seconds", "7-minutes", "hour", "day", "week", "month", "year",
        "compound"])
def test_every_ticks_are_epoch_aligned(plugins: Path, spec: str, first: str,
                                       second: str) -> None:
    clock = ManualClock(_utc("2025-01-01T00:00:07.250000"))
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification=spec)
        clock.set(_utc(first) - timedelta(microseconds=1))
        assert engine.run_pending() == 0
        clock.set(_utc(first))
        assert engine.run_pending() == 1
        clock.set(_utc(second))
        assert engine.run_pending() == 1
        assert _ticks(engine) == [_utc(first), _utc(second)]


@pytest.mark.parametrize("policy, expected", [
    ("all", [10, 20, 30, 40, 50, 60]),
    ("latest", [50, 60]),
    ("skip", [60]),
], ids=["all", "latest", "skip"])
def test_catch_up_policy_after_a_pause(plugins: Path, policy: str, expected: list[int]) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="every:10s",
                              trigger_settings={"catch_up": policy})
        clock.advance(55)  # the host was suspended, or the engine starved, for 55 s
        engine.run_pending()
        clock.advance(5)
        engine.run_pending()
        assert _ticks(engine) == [T0 + timedelta(seconds=s) for s in expected]
        runs = engine.query("db", "SELECT scheduled_time FROM system.processing_engine_runs "
                                  "ORDER BY scheduled_time")
    assert [r["scheduled_time"] for r in runs] == [
        int((T0 + timedelta(seconds=s)).timestamp()) * 10**9 for s in expected]


def test_cron_catch_up_latest_runs_only_the_newest_missed_tick(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="cron:0 0 * * * *",
                              trigger_settings={"catch_up": "latest"})
        clock.advance(timedelta(hours=5, minutes=30))
        assert engine.run_pending() == 1
        assert _ticks(engine) == [T0 + timedelta(hours=5)]


def test_ticks_of_many_triggers_run_in_time_order(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        for name, spec in (("three", "every:3s"), ("five", "every:5s")):
            engine.create_trigger("db", name, plugin_filename="recorder.py",
                                  trigger_specification=spec, trigger_arguments={"tag": name})
        clock.advance(15)
        assert engine.run_pending() == 8
        order = [e.message.split()[2] for e in engine.observability.logs()
                 if e.message.startswith("tick ")]
    assert order == ["three", "five", "three", "three", "five", "three", "three", "five"]


def test_a_trigger_created_later_starts_from_its_creation_time(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        clock.advance(100)
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="every:30s")
        clock.advance(30)
        engine.run_pending()
        assert _ticks(engine) == [T0 + timedelta(seconds=120)]


def test_disabled_trigger_gets_no_ticks_and_resumes_from_now_when_enabled(
        plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="every:10s")
        engine.disable_trigger("db", "s")
        clock.advance(35)
        assert engine.run_pending() == 0
        engine.enable_trigger("db", "s")
        clock.advance(5)
        engine.run_pending()
        assert _ticks(engine) == [T0 + timedelta(seconds=40)]


def test_soft_timeout_logs_a_warning_and_marks_the_run(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="slow.py",
                              trigger_specification="every:1s",
                              trigger_arguments={"seconds": "0.06"},
                              trigger_settings={"timeout": 0.02})
        clock.advance(1)
        engine.run_pending()
        warnings = engine.query(
            "db", "SELECT log_text FROM system.processing_engine_logs WHERE log_level = 'WARN'")
        runs = engine.query("db", "SELECT status, timed_out, duration_ms "
                                  "FROM system.processing_engine_runs")
    assert [w["log_text"] for w in warnings][:1] == [
        "execution still running after its 0.02s timeout"]  # while the call was still running
    assert len(warnings) == 2
    assert warnings[1]["log_text"].startswith("execution took 0.")
    assert warnings[1]["log_text"].endswith("s, over the 0.02s timeout")
    assert runs[0]["status"] == "success" and runs[0]["timed_out"] is True
    assert runs[0]["duration_ms"] >= 60


def test_a_run_within_its_timeout_is_not_marked(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="every:1s",
                              trigger_settings={"timeout": 30})
        clock.advance(1)
        engine.run_pending()
        runs = engine.query("db", "SELECT timed_out FROM system.processing_engine_runs")
    assert runs == [{"timed_out": False}]


# --- run now ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call_time, expected", [
    (None, "2025-01-01T00:00:42"),
    (datetime(2025, 6, 1, 12, 0, 0, 999_999), "2025-06-01T12:00:00"),
    (datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2025-06-01T12:00:00"),
], ids=["default-now", "naive-is-utc", "aware-converted"])
def test_run_trigger_runs_now_with_the_call_time(plugins: Path, call_time: datetime | None,
                                                 expected: str) -> None:
    clock = ManualClock(T0 + timedelta(seconds=42, microseconds=500))
    with _engine(plugins, clock) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="cron:0 0 0 1 1 *")
        outcome = engine.run_trigger("db", "s", call_time=call_time)
    assert outcome.ok and outcome.attempts == 1
    assert outcome.log_lines[0].startswith("INFO: starting execution with scheduled time ")
    assert outcome.log_lines[1] == f"INFO: tick {expected} "
    assert outcome.log_lines[2].startswith("INFO: finished execution in ")


def test_run_trigger_works_on_a_disabled_trigger(plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "s", plugin_filename="recorder.py",
                              trigger_specification="every:1h", disabled=True)
        outcome = engine.run_trigger("db", "s")
        assert outcome.ok
        assert engine.get_trigger("db", "s").disabled


def test_run_trigger_refuses_other_kinds(plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "w", plugin_filename="wal.py",
                              trigger_specification="all_tables")
        with pytest.raises(NotAScheduleTrigger):
            engine.run_trigger("db", "w")


# --- background mode with a real pool ------------------------------------------------------


class _Shared:
    """State a gated plugin shares with the test, installed as a module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = threading.Event()
        self.cond = threading.Condition()
        self.active = 0
        self.max_active = 0
        self.ticks: list[datetime] = []

    def enter(self, call_time: datetime) -> None:
        with self.cond:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.ticks.append(call_time)
            self.cond.notify_all()

    def leave(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self), timeout), (
                f"timed out: active={self.active} ticks={len(self.ticks)}")


@pytest.fixture
def shared(plugins: Path, request: pytest.FixtureRequest) -> Iterator[_Shared]:
    name = f"_shared_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    state = _Shared(name)
    module = types.ModuleType(name)
    module.__dict__.update(enter=state.enter, leave=state.leave, gate=state.gate)
    sys.modules[name] = module
    (plugins / "gated.py").write_text(GATED.replace("{module}", name))
    yield state
    state.gate.set()
    del sys.modules[name]


def test_slow_synchronous_plugin_never_overlaps_its_ticks(plugins: Path,
                                                          shared: _Shared) -> None:
    clock = ManualClock(T0)
    with Engine(plugins, clock=clock, background=True) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "s", plugin_filename="gated.py",
                              trigger_specification="every:1s")
        clock.advance(5)
        engine.run_pending()
        shared.wait_for(lambda s: s.active == 1)
        for _ in range(3):  # more due ticks while the first run holds on
            clock.advance(1)
            engine.run_pending()
        assert len(shared.ticks) == 1
        shared.gate.set()
        shared.wait_for(lambda s: len(s.ticks) == 8 and s.active == 0)
    assert shared.max_active == 1
    assert shared.ticks == [datetime(2025, 1, 1, 0, 0, s) for s in range(1, 9)]


def test_run_async_ticks_overlap_up_to_the_pool_size(plugins: Path, shared: _Shared) -> None:
    clock = ManualClock(T0)
    ticks = DEFAULT_MAX_WORKERS + 8
    with Engine(plugins, clock=clock, background=True) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "s", plugin_filename="gated.py",
                              trigger_specification="every:1s",
                              trigger_settings={"run_async": True})
        clock.advance(ticks)
        engine.run_pending()
        shared.wait_for(lambda s: s.active == DEFAULT_MAX_WORKERS)
        assert len(shared.ticks) == DEFAULT_MAX_WORKERS
        shared.gate.set()
        shared.wait_for(lambda s: len(s.ticks) == ticks and s.active == 0)
    assert shared.max_active == DEFAULT_MAX_WORKERS
    assert sorted(shared.ticks) == [datetime(2025, 1, 1) + timedelta(seconds=s)
                                    for s in range(1, ticks + 1)]


def test_a_slow_plugin_does_not_hold_up_other_triggers_due_at_the_same_tick(
        plugins: Path, shared: _Shared) -> None:
    clock = ManualClock(T0)
    with Engine(plugins, clock=clock, background=True) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "a-gated", plugin_filename="gated.py",
                              trigger_specification="every:10s")
        for n in range(5):
            engine.create_trigger("db", f"r{n}", plugin_filename="gated.py",
                                  trigger_specification="every:10s",
                                  trigger_arguments={"hold": "no"})
        clock.advance(10)
        engine.run_pending()
        # The gated call holds its thread; the five others still run, on another one.
        shared.wait_for(lambda s: len(s.ticks) == 6 and s.active == 1)
        shared.gate.set()
        shared.wait_for(lambda s: s.active == 0)
