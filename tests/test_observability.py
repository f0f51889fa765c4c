"""The log and run buffers: bounded, thread-safe, and forwarded to Python's logging."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import Engine, ManualClock
from engine.observability import LogEntry, Observability, RunRecord

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _entry(n: int, *, level: str = "INFO", trigger: str = "t", db: str = "db",
           trace: str | None = None) -> LogEntry:
    return LogEntry(time=T0, database=db, trigger_name=trigger, level=level,
                    message=f"line {n}", traceback=trace)


def _run(n: int, trigger: str = "t") -> RunRecord:
    return RunRecord(database="db", trigger_name=trigger, kind="schedule", scheduled_time=T0,
                     started=T0, duration_seconds=0.001 * n, status="success", attempts=1,
                     rows_in=0, lines_written=n)


def test_buffers_keep_the_newest_entries() -> None:
    obs = Observability(max_logs=3, max_runs=2)
    for n in range(5):
        obs.log(_entry(n))
        obs.record_run(_run(n))
    assert [e.message for e in obs.logs()] == ["line 2", "line 3", "line 4"]
    assert [r.lines_written for r in obs.runs()] == [3, 4]
    assert (obs.max_logs, obs.max_runs) == (3, 2)


@pytest.mark.parametrize("sizes", [{"max_logs": 0}, {"max_runs": 0}, {"max_logs": -5}],
                         ids=["no-logs", "no-runs", "negative"])
def test_buffer_sizes_must_be_positive(sizes: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="buffer sizes must be at least 1"):
        Observability(**sizes)


def test_lines_and_runs_of_one_trigger() -> None:
    obs = Observability()
    obs.log(_entry(1, trigger="a"))
    obs.log(_entry(2, trigger="b"))
    obs.log(_entry(3, trigger="a", db="other"))
    obs.log(_entry(4, trigger="a"))
    obs.record_run(_run(1, "a"))
    obs.record_run(_run(2, "b"))
    assert [e.message for e in obs.logs_for("db", "a")] == ["line 1", "line 4"]
    assert [r.lines_written for r in obs.runs_for("db", "b")] == [2]


def test_snapshots_are_copies() -> None:
    obs = Observability()
    obs.log(_entry(1))
    snapshot = obs.logs()
    obs.log(_entry(2))
    assert len(snapshot) == 1 and len(obs.logs()) == 2


@pytest.mark.parametrize("level, python_level", [
    ("INFO", logging.INFO), ("WARN", logging.WARNING), ("ERROR", logging.ERROR),
], ids=["info", "warn", "error"])
def test_lines_are_forwarded_to_python_logging(caplog: pytest.LogCaptureFixture, level: str,
                                               python_level: int) -> None:
    caplog.set_level(logging.INFO, logger="engine")
    Observability().log(_entry(7, level=level))
    [record] = [r for r in caplog.records if r.name == "engine.plugins"]
    assert record.levelno == python_level
    assert record.getMessage() == "[db/t] line 7"


def test_forwarded_errors_carry_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.plugins")
    trace = "Traceback (most recent call last):\n  ...\nValueError: boom\n"
    Observability().log(_entry(1, level="ERROR", trace=trace))
    assert caplog.records[-1].getMessage() == f"[db/t] line 1\n{trace.rstrip()}"


def test_nothing_is_formatted_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="engine.plugins")
    obs = Observability()
    obs.log(_entry(1, level="INFO"))
    assert not [r for r in caplog.records if r.name == "engine.plugins"]
    assert len(obs.logs()) == 1  # still buffered for the system table


def test_many_threads_log_at_once_without_losing_lines() -> None:
    obs = Observability(max_logs=100_000)
    barrier = threading.Barrier(8)

    def writer(k: int) -> None:
        barrier.wait()
        for n in range(500):
            obs.log(_entry(n, trigger=f"t{k}"))
            obs.record_run(_run(n, f"t{k}"))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(obs.logs()) == 4000 and len(obs.runs()) == 4000
    assert [e.message for e in obs.logs_for("db", "t3")] == [f"line {n}" for n in range(500)]


def test_a_host_applications_logging_sees_plugin_lines(plugin_dir: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    (plugin_dir / "p.py").write_text(
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\n"
        "    influxdb3_local.warn('disk at', 91, '%')\n")
    caplog.set_level(logging.INFO, logger="engine")
    clock = ManualClock(T0)
    with Engine(plugin_dir, clock=clock, background=False) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "p", plugin_filename="p.py", trigger_specification="every:1s")
        clock.advance(1)
        engine.run_pending()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "engine.plugins"]
    assert lines[0] == ("INFO", "[db/p] starting execution with scheduled time "
                                "2025-01-01 00:00:01 UTC")
    assert lines[1] == ("WARNING", "[db/p] disk at 91 %")
    assert lines[2][1].startswith("[db/p] finished execution in ")


def test_a_buffer_that_does_not_forward_keeps_lines_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine")
    obs = Observability(forward=False)
    obs.log(_entry(1, level="ERROR"))
    assert [e.message for e in obs.logs()] == ["line 1"]
    assert not [r for r in caplog.records if r.name == "engine.plugins"]


def test_entries_read_back_equal_what_was_logged() -> None:
    obs = Observability()
    entry = _entry(3, level="ERROR", trace="Traceback ...")
    run = _run(2)
    obs.log(entry)
    obs.record_run(run)
    assert obs.logs() == [entry] and obs.runs() == [run]


def test_line_is_log_without_building_an_entry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.plugins")
    obs = Observability()
    obs.line(T0, "db", "t", "WARN", "quick")
    assert obs.logs() == [LogEntry(time=T0, database="db", trigger_name="t", level="WARN",
                                   message="quick")]
    assert caplog.records[-1].getMessage() == "[db/t] quick"


def test_line_goes_through_a_subclass_log() -> None:
    class Counting(Observability):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def log(self, entry: LogEntry) -> None:
            self.seen.append(entry.message)
            super().log(entry)

    obs = Counting()
    obs.line(T0, "db", "t", "INFO", "through log")
    assert obs.seen == ["through log"] and len(obs.logs()) == 1
