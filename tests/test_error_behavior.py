"""error_behavior through the Engine: log and go on, retry with back-off, disable durably."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ManualClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)

# Fails its first `failures` calls (all, by default). Every call writes a line first, so the
# test sees that a failed call's batched writes are dropped and a good call's are kept.
FLAKY_SCHEDULE = """
calls = []

def process_scheduled_call(influxdb3_local, call_time, args=None):
    calls.append(call_time)
    influxdb3_local.info("call", len(calls), call_time.isoformat())
    influxdb3_local.write(LineBuilder("out").int64_field("call", len(calls)))
    if len(calls) <= int((args or {}).get("failures", "1000000")):
        raise ValueError(f"boom {len(calls)}")
"""

FLAKY_WAL = """
calls = []

def process_writes(influxdb3_local, table_batches, args=None):
    values = [row["v"] for batch in table_batches for row in batch["rows"]]
    calls.append(values)
    influxdb3_local.info("call", len(calls), values)
    if len(calls) <= int((args or {}).get("failures", "1000000")):
        raise ValueError(f"boom {len(calls)}")
"""

FAILING_REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    raise ValueError("no")
"""

GOOD_SCHEDULE = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("fine", call_time.isoformat())
"""


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    (plugin_dir / "flaky.py").write_text(FLAKY_SCHEDULE)
    (plugin_dir / "flaky_wal.py").write_text(FLAKY_WAL)
    (plugin_dir / "failing_request.py").write_text(FAILING_REQUEST)
    return plugin_dir


def _engine(plugins: Path, clock: ManualClock, **options: Any) -> Engine:
    engine = Engine(plugins, clock=clock, background=False, **options)
    if "db" not in engine.list_databases():
        engine.create_database("db")
    return engine


def _messages(engine: Engine, name: str = "s") -> list[str]:
    return [f"{e.level} {e.message}" for e in engine.observability.logs_for("db", name)]


def _runs(engine: Engine) -> list[dict[str, Any]]:
    return engine.query("db", "SELECT trigger_name, status, attempts, error, traceback, "
                              "lines_written FROM system.processing_engine_runs")


def _schedule(engine: Engine, name: str = "s", **settings: Any) -> None:
    arguments = settings.pop("arguments", None)
    engine.create_trigger("db", name, plugin_filename="flaky.py",
                          trigger_specification="every:10s", trigger_arguments=arguments,
                          trigger_settings=settings or None)


def _tick(engine: Engine, clock: ManualClock, seconds: float = 10) -> int:
    clock.advance(seconds)
    return engine.run_pending()


# --- log -----------------------------------------------------------------------------------


def test_log_writes_the_reference_lines_and_goes_on_with_the_next_tick(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        _schedule(engine)
        _tick(engine, clock)
        _tick(engine, clock)
        messages = _messages(engine)
        runs = _runs(engine)
        tables = engine.query("db", "SHOW TABLES")
    assert messages[:5] == [
        "INFO starting execution with scheduled time 2025-01-01 00:00:10 UTC",
        "INFO call 1 2025-01-01T00:00:10",
        "ERROR error executing schedule plugin: ValueError: boom 1",
        "ERROR error running scheduled plugin: ValueError: boom 1",
        "INFO starting execution with scheduled time 2025-01-01 00:00:20 UTC",
    ]
    assert [(r["status"], r["attempts"], r["error"]) for r in runs] == [
        ("error", 1, "ValueError: boom 1"), ("error", 1, "ValueError: boom 2")]
    assert "Traceback (most recent call last)" in runs[0]["traceback"]
    assert 'raise ValueError(f"boom {len(calls)}")' in runs[0]["traceback"]
    assert "out" not in {t["table_name"] for t in tables}  # failed calls write nothing


def test_log_for_a_wal_trigger_keeps_processing_later_flushes(plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "w", plugin_filename="flaky_wal.py",
                              trigger_specification="table:m",
                              trigger_arguments={"failures": "1"})
        engine.write_lp("db", "m v=1i 1")
        engine.flush()
        engine.write_lp("db", "m v=2i 2")
        engine.flush()
        messages = _messages(engine, "w")
    assert "ERROR error executing wal plugin: ValueError: boom 1" in messages
    assert "INFO call 2 [2]" in messages
    assert not any("scheduled" in m for m in messages)


def test_the_error_line_carries_the_traceback_in_the_logs_table(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        _schedule(engine)
        _tick(engine, clock)
        rows = engine.query("db", "SELECT log_text, traceback FROM system.processing_engine_logs "
                                  "WHERE log_level = 'ERROR' ORDER BY event_time")
    assert rows[0]["log_text"] == "error executing schedule plugin: ValueError: boom 1"
    assert rows[0]["traceback"].rstrip().endswith("ValueError: boom 1")
    assert rows[1]["traceback"] is None


# --- retry ---------------------------------------------------------------------------------


def test_retry_gives_up_after_its_attempts_logging_each_one(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        _schedule(engine, error_behavior="retry", max_retries=3, retry_backoff=0.001)
        _tick(engine, clock)
        messages = _messages(engine)
        runs = _runs(engine)
    calls = [m for m in messages if m.startswith("INFO call ")]
    assert calls == [f"INFO call {n} 2025-01-01T00:00:10" for n in (1, 2, 3, 4)]  # same input
    errors = [m for m in messages if m.startswith("ERROR error executing")]
    assert len(errors) == 4
    warnings = [m for m in messages if m.startswith("WARN ")]
    assert warnings == [
        "WARN attempt 1 of 4 failed, retrying in 0.001s: ValueError: boom 1",
        "WARN attempt 2 of 4 failed, retrying in 0.002s: ValueError: boom 2",
        "WARN attempt 3 of 4 failed, retrying in 0.004s: ValueError: boom 3",
    ]
    assert messages[-1] == "ERROR giving up after 4 attempts: ValueError: boom 4"
    assert [(r["status"], r["attempts"]) for r in runs] == [("error", 4)]


def test_retry_succeeds_when_the_plugin_recovers_and_writes_once(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        _schedule(engine, error_behavior="retry", retry_backoff=0.001,
                  arguments={"failures": "2"})
        _tick(engine, clock)
        engine.flush()
        runs = _runs(engine)
        written = engine.query("db", "SELECT call FROM out")
    assert [(r["status"], r["attempts"], r["lines_written"]) for r in runs] == [("success", 3, 1)]
    assert written == [{"call": 3}]  # the failed attempts' batched writes were dropped


def test_retry_keeps_later_wal_input_waiting_behind_it(plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "w", plugin_filename="flaky_wal.py",
                              trigger_specification="table:m",
                              trigger_arguments={"failures": "2"},
                              trigger_settings={"error_behavior": "retry",
                                                "retry_backoff": 0.001})
        engine.write_lp("db", "m v=1i 1")
        engine.flush()
        engine.write_lp("db", "m v=2i 2")
        engine.flush()
        calls = [m for m in _messages(engine, "w") if m.startswith("INFO call")]
    assert calls == ["INFO call 1 [1]", "INFO call 2 [1]", "INFO call 3 [1]", "INFO call 4 [2]"]


def test_zero_max_retries_means_a_single_attempt(plugins: Path) -> None:
    clock = ManualClock(T0)
    with _engine(plugins, clock) as engine:
        _schedule(engine, error_behavior="retry", max_retries=0, retry_backoff=0.001)
        _tick(engine, clock)
        runs = _runs(engine)
        last = _messages(engine)[-1]
    assert [(r["status"], r["attempts"]) for r in runs] == [("error", 1)]
    assert last == "ERROR giving up after 1 attempts: ValueError: boom 1"


def test_disabling_a_retrying_trigger_ends_the_back_off_at_once(plugins: Path) -> None:
    clock = ManualClock(T0)
    outcomes: list[Any] = []
    with Engine(plugins, clock=clock, background=True) as engine:
        engine.create_database("db")
        _schedule(engine, error_behavior="retry", retry_backoff=60)
        runner = threading.Thread(target=lambda: outcomes.append(engine.run_trigger("db", "s")))
        runner.start()
        _wait_until(lambda: any(m.startswith("WARN attempt 1") for m in _messages(engine)))
        started = time.perf_counter()
        engine.disable_trigger("db", "s")
        assert time.perf_counter() - started < 0.5  # (bar: 0.1 s; slack for loaded CI)
        runner.join(5)
        assert not runner.is_alive()
        _wait_until(lambda: bool(engine.observability.runs()))
        record = engine.observability.runs()[0]
    assert outcomes[0].status == "cancelled"
    assert record.status == "cancelled" and record.attempts == 1
    assert record.error == "trigger stopped while retrying after: ValueError: boom 1"


def _wait_until(condition: Any, timeout: float = 10.0) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.005)


# --- disable -------------------------------------------------------------------------------


def test_disable_persists_with_its_reason_across_a_restart_and_enable_restores_it(
        plugins: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    clock = ManualClock(T0)
    with _engine(plugins, clock, data_dir=data_dir) as engine:
        _schedule(engine, error_behavior="disable")
        assert _tick(engine, clock) == 1
        assert _tick(engine, clock) == 0  # stopped: no more ticks
        definition = engine.get_trigger("db", "s")
        assert definition.disabled
        assert definition.disabled_reason == "disabled after error: ValueError: boom 1"
        assert _messages(engine)[-1] == (
            "ERROR disabling trigger s after error: ValueError: boom 1")

    (plugins / "flaky.py").write_text(GOOD_SCHEDULE)
    with _engine(plugins, clock, data_dir=data_dir) as engine:
        rows = engine.query("db", "SELECT disabled, disabled_reason FROM "
                                  "system.processing_engine_triggers WHERE trigger_name = 's'")
        assert rows == [{"disabled": True,
                         "disabled_reason": "disabled after error: ValueError: boom 1"}]
        assert _tick(engine, clock) == 0
        engine.enable_trigger("db", "s")
        assert engine.get_trigger("db", "s").disabled_reason is None
        assert _tick(engine, clock) == 1
        assert _messages(engine)[-2] == "INFO fine 2025-01-01T00:00:40"


def test_disable_applies_to_wal_triggers(plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "w", plugin_filename="flaky_wal.py",
                              trigger_specification="all_tables",
                              trigger_settings={"error_behavior": "disable"})
        engine.write_lp("db", "m v=1i 1")
        engine.flush()
        engine.write_lp("db", "m v=2i 2")
        engine.flush()
        calls = [m for m in _messages(engine, "w") if m.startswith("INFO call")]
        assert engine.get_trigger("db", "w").disabled
    assert calls == ["INFO call 1 [1]"]


def test_run_trigger_reports_the_error_of_a_call_that_disables_its_trigger(
        plugins: Path) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        _schedule(engine, error_behavior="disable")
        outcome = engine.run_trigger("db", "s")
        assert engine.get_trigger("db", "s").disabled
    assert outcome.status == "error" and outcome.error == "ValueError: boom 1"
    assert outcome.log_lines[-1] == "ERROR: disabling trigger s after error: ValueError: boom 1"


def test_disable_in_background_mode_stops_the_ticks(plugins: Path) -> None:
    clock = ManualClock(T0)
    with Engine(plugins, clock=clock, background=True) as engine:
        engine.create_database("db")
        _schedule(engine, error_behavior="disable")
        clock.advance(10)
        outcome = engine.run_trigger("db", "s")
        assert outcome.status == "error"
        assert engine.get_trigger("db", "s").disabled
        assert engine.in_flight("db", "s") == 0


# --- request triggers ----------------------------------------------------------------------


@pytest.mark.parametrize("behavior", ["log", "retry", "disable"])
def test_request_errors_answer_500_and_are_never_retried_or_disabled(
        plugins: Path, behavior: str) -> None:
    with _engine(plugins, ManualClock(T0)) as engine:
        engine.create_trigger("db", "r", plugin_filename="failing_request.py",
                              trigger_specification="request:fail",
                              trigger_settings={"error_behavior": behavior,
                                                "retry_backoff": 0.001})
        first = engine.handle_request("fail")
        second = engine.handle_request("fail")
        runs = _runs(engine)
        disabled = engine.get_trigger("db", "r").disabled
        messages = _messages(engine, "r")
    assert first.status == second.status == 500
    assert b"Python function call failed: ValueError: no" in first.body
    assert [r["attempts"] for r in runs] == [1, 1]
    assert not disabled
    assert "ERROR error running request plugin: ValueError: no" in messages
