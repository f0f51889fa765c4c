"""`engine.bench.run_bench`: load per trigger kind on a real engine, and the time split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine
from engine.bench import TRIGGER_NAME, BenchLoad, Percentiles, run_bench
from engine.errors import BenchLoadMismatch

WAL = """
import time

def process_writes(influxdb3_local, table_batches, args=None):
    time.sleep(0.002)
    influxdb3_local.info("rows", sum(len(b["rows"]) for b in table_batches))
"""
REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("x") != "1" or request_body != b"hi":
        raise ValueError(f"unexpected request {query_parameters!r} {request_body!r}")
    return {"ok": True}
"""
SCHEDULE = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    if args and args.get("fail"):
        raise RuntimeError("scheduled failure")
"""


@pytest.fixture
def engine(plugin_dir: Path) -> Iterator[Engine]:
    for name, source in (("wal.py", WAL), ("req.py", REQUEST), ("sched.py", SCHEDULE)):
        (plugin_dir / name).write_text(source)
    with Engine(plugin_dir, watch_plugins=False, wal_flush_interval=3600.0) as running:
        yield running


def test_wal_load_runs_the_plugin_once_per_write_and_splits_the_time(engine: Engine) -> None:
    writes = [f"cpu,host=h{n} v={n} {n}\ncpu,host=h{n} v={n} {n + 1}\n" for n in range(10)]
    seen: list[tuple[int, int]] = []
    report = run_bench(engine, "wal.py", "table:cpu", BenchLoad(writes=writes),
                       progress=lambda done, total: seen.append((done, total)))
    assert (report.kind, report.operations, report.lines, report.runs) == ("wal", 10, 20, 10)
    rows = [e.message for e in engine.observability.logs_for("bench", TRIGGER_NAME)
            if e.message.startswith("rows")]
    assert rows == ["rows 2"] * 11  # the warm-up write, then the ten measured ones
    assert report.plugin_seconds >= 10 * 0.002
    assert report.plugin_seconds <= report.busy_seconds <= report.wall_seconds + 1e-6
    assert report.overhead_seconds == pytest.approx(report.busy_seconds - report.plugin_seconds,
                                                    abs=1e-5)
    assert 0 < report.plugin_share <= 1
    assert report.latency.p50 <= report.latency.p99 <= report.latency.max
    assert report.plugin.p50 >= 2.0
    assert seen[-1] == (10, 10) and seen == sorted(seen)
    assert report.failures == 0 and report.first_failure is None


def test_request_load_from_several_threads_counts_every_call(engine: Engine) -> None:
    load = BenchLoad(calls=60, concurrency=4, method="POST", query_params={"x": "1"},
                     body=b"hi", warmup=2)
    report = run_bench(engine, "req.py", "request:probe", load, database="other")
    assert (report.kind, report.operations, report.runs, report.concurrency) == (
        "request", 60, 60, 4)
    assert report.failures == 0
    assert len(engine.observability.runs_for("other", TRIGGER_NAME)) == 62
    assert report.to_dict()["operations_per_second"] > 0


def test_failed_requests_are_counted_with_the_first_failure(engine: Engine) -> None:
    report = run_bench(engine, "req.py", "request:probe", BenchLoad(calls=5, warmup=0))
    assert report.failures == 5
    assert report.first_failure is not None and report.first_failure.startswith("status 500")


@pytest.mark.parametrize(("arguments", "failures"), [(None, 0), ({"fail": "yes"}, 7)],
                         ids=["succeeding", "failing"])
def test_schedule_load_runs_the_trigger_now_n_times(engine: Engine,
                                                    arguments: dict[str, str] | None,
                                                    failures: int) -> None:
    report = run_bench(engine, "sched.py", "every:1h", BenchLoad(calls=7),
                       trigger_arguments=arguments)
    assert (report.kind, report.operations, report.runs, report.failures) == (
        "schedule", 7, 7, failures)
    assert engine.get_trigger("bench", TRIGGER_NAME).disabled  # never fired by the scheduler
    if failures:
        assert report.first_failure is not None
        assert report.first_failure.startswith("error: ")
        assert "scheduled failure" in report.first_failure


@pytest.mark.parametrize(("spec", "load", "problem"), [
    ("all_tables", BenchLoad(calls=10), "no line protocol to write"),
    ("request:x", BenchLoad(writes=["m v=1"]), "0 calls requested"),
    ("every:1s", BenchLoad(calls=0), "0 calls requested"),
    ("request:x", BenchLoad(calls=3, concurrency=0), "concurrency 0"),
], ids=["wal-without-lines", "request-without-calls", "schedule-without-calls",
        "no-threads"])
def test_load_that_does_not_fit_the_spec_is_refused(engine: Engine, spec: str, load: BenchLoad,
                                                    problem: str) -> None:
    with pytest.raises(BenchLoadMismatch, match=problem):
        run_bench(engine, "wal.py", spec, load)
    assert engine.list_triggers() == []


@pytest.mark.parametrize(("seconds", "expected"), [
    ([], Percentiles(p50=0.0, p95=0.0, p99=0.0, max=0.0, mean=0.0)),
    ([0.004], Percentiles(p50=4.0, p95=4.0, p99=4.0, max=4.0, mean=4.0)),
    ([n / 1000 for n in range(100, 0, -1)],
     Percentiles(p50=50.0, p95=95.0, p99=99.0, max=100.0, mean=50.5)),
], ids=["none", "one", "hundred"])
def test_percentiles_are_nearest_rank_in_milliseconds(seconds: list[float],
                                                      expected: Percentiles) -> None:
    assert Percentiles.of(seconds) == expected
