"""Execution through the Engine: worker threads, ordering, concurrency and failure containment."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, TriggerBusy
from engine.responses import Response

FRAMEWORK_PREFIXES = ("starting execution", "finished execution")
# disable and delete(force=True) must not wait for a running plugin (PRODUCT §7: 100 ms).
RETURNS_AT_ONCE_SECONDS = 0.25

WHERE = """
import asyncio
import json
import threading


async def _double(x):
    await asyncio.sleep(0)
    return x * 2


def _where():
    try:
        asyncio.get_running_loop()
        loop = True
    except RuntimeError:
        loop = False
    return {
        "main_thread": threading.current_thread() is threading.main_thread(),
        "running_loop": loop,
        "asyncio_run": asyncio.run(_double(21)),
    }


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info(json.dumps(_where()))


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info(json.dumps(_where()))


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return _where()
"""

FAILER = """
import sys


def _fail(kind):
    if kind == "raise":
        raise ValueError("boom")
    if kind == "exit":
        sys.exit(3)
    if kind == "interrupt":
        raise KeyboardInterrupt("stop")
    if kind == "recursion":
        def down(n):
            return down(n + 1) + 1
        down(0)
    if kind == "memory":
        bytearray(1 << 62)


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.write(LineBuilder("written").int64_field("n", 1))
    if any(row.get("fail") for batch in table_batches for row in batch["rows"]):
        _fail(args["kind"])
    influxdb3_local.info("ok")


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _fail(args["kind"])


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("fail"):
        _fail(args["kind"])
    return {"ok": True}
"""

RECORD = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        for row in batch["rows"]:
            influxdb3_local.info(batch["table_name"], row["time"])
"""

# Counts how many calls run at once; each call sleeps a little.
PEAK = """
import threading
import time

_lock = threading.Lock()
_active = 0
_peak = 0


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    global _active, _peak
    with _lock:
        _active += 1
        _peak = max(_peak, _active)
    try:
        time.sleep(0.05)
    finally:
        with _lock:
            _active -= 1
    return {"peak": _peak}
"""

# Every call waits until `n` calls are inside at once: only concurrent calls can get through.
BARRIER = """
import threading

_barrier = threading.Barrier(4, timeout=20)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"arrived": _barrier.wait()}
"""

# Queues a batched write, says it started, then holds until the release file exists.
GATE = """
import os
import threading
import time

_lock = threading.Lock()
_active = 0
_peak = 0


def _hold(influxdb3_local, args):
    global _active, _peak
    influxdb3_local.write(LineBuilder("gated").int64_field("n", 1))
    with _lock:
        _active += 1
        _peak = max(_peak, _active)
    open(args["started"], "a").close()
    deadline = time.monotonic() + 30
    try:
        while not os.path.exists(args["release"]) and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        with _lock:
            _active -= 1
    return _peak


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("released", _hold(influxdb3_local, args))


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"peak": _hold(influxdb3_local, args)}
"""

PLUGINS = {"where.py": WHERE, "failer.py": FAILER, "record.py": RECORD, "peak.py": PEAK,
           "barrier.py": BARRIER, "gate.py": GATE}


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    for name, source in PLUGINS.items():
        (plugin_dir / name).write_text(source)
    return plugin_dir


@pytest.fixture
def gate_files(tmp_path: Path) -> Iterator[dict[str, str]]:
    files = {"started": str(tmp_path / "started"), "release": str(tmp_path / "release")}
    yield files
    Path(files["release"]).touch()  # never leave a plugin thread holding


@pytest.fixture
def engine(plugins: Path) -> Iterator[Engine]:
    with Engine(plugins, watch_plugins=False) as eng:
        eng.create_database("db")
        yield eng


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def plugin_lines(engine: Engine, trigger: str) -> list[str]:
    return [e.message for e in engine.observability.logs_for("db", trigger)
            if not e.message.startswith(FRAMEWORK_PREFIXES)]


def add(engine: Engine, name: str, plugin: str, spec: str, args: dict[str, str] | None = None,
        **settings: Any) -> None:
    engine.create_trigger("db", name, plugin_filename=plugin, trigger_specification=spec,
                          trigger_arguments=args, trigger_settings=settings or None)


def in_threads(count: int, call: Callable[[], Response]) -> list[Response]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


# --- where plugins run ----------------------------------------------------------------------

def test_plugins_run_on_worker_threads_with_no_running_event_loop(engine: Engine) -> None:
    add(engine, "wal", "where.py", "all_tables")
    add(engine, "tick", "where.py", "every:1h")
    add(engine, "req", "where.py", "request:where")
    engine.write_lp("db", "m f=1")
    engine.flush()
    expected = {"main_thread": False, "running_loop": False, "asyncio_run": 42}
    assert [json.loads(line) for line in plugin_lines(engine, "wal")] == [expected]
    assert engine.run_trigger("db", "tick").ok
    assert [json.loads(line) for line in plugin_lines(engine, "tick")] == [expected]
    assert engine.handle_request("where").json() == expected


def test_a_host_running_an_event_loop_does_not_lend_it_to_plugins(engine: Engine) -> None:
    add(engine, "req", "where.py", "request:where")

    async def host() -> Any:
        return engine.handle_request("where").json()

    assert asyncio.run(host())["running_loop"] is False


# --- ordering and concurrency ---------------------------------------------------------------

def test_synchronous_triggers_run_one_call_at_a_time(engine: Engine) -> None:
    add(engine, "sync", "peak.py", "request:peak")
    responses = in_threads(6, lambda: engine.handle_request("peak"))
    assert [r.json()["peak"] for r in responses] == [1] * 6


def test_run_async_triggers_run_calls_concurrently(engine: Engine) -> None:
    add(engine, "together", "barrier.py", "request:together", run_async=True)
    responses = in_threads(4, lambda: engine.handle_request("together"))
    assert sorted(r.json()["arrived"] for r in responses) == [0, 1, 2, 3]


def test_run_async_calls_share_a_bounded_pool(
    engine: Engine, gate_files: dict[str, str],
) -> None:
    add(engine, "gate", "gate.py", "request:gate", gate_files, run_async=True)
    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(engine.handle_request, "gate") for _ in range(40)]
        wait_for(lambda: engine.in_flight("db", "gate") == 32)
        time.sleep(0.2)
        assert engine.in_flight("db", "gate") == 32  # the other 8 wait for a thread
        Path(gate_files["release"]).touch()
        peaks = [future.result(timeout=30).json()["peak"] for future in futures]
    assert max(peaks) == 32


def test_synchronous_wal_trigger_sees_flushes_in_order(engine: Engine) -> None:
    add(engine, "rec", "record.py", "all_tables")
    for n in range(1, 6):
        engine.write_lp("db", f"m f={n} {n}", precision="s")
        engine.flush()
    assert plugin_lines(engine, "rec") == [f"m {n * 1_000_000_000}" for n in range(1, 6)]


# --- failures are contained -----------------------------------------------------------------

FAILURES = [
    pytest.param("raise", "ValueError: boom", id="raise"),
    pytest.param("exit", "SystemExit: 3", id="sys.exit"),
    pytest.param("interrupt", "KeyboardInterrupt: stop", id="KeyboardInterrupt"),
    pytest.param("recursion", "RecursionError: maximum recursion depth exceeded", id="recursion"),
    pytest.param("memory", "MemoryError", id="out-of-memory"),
]


@pytest.mark.parametrize("background", [True, False], ids=["background", "inline"])
@pytest.mark.parametrize(("kind", "error"), FAILURES)
def test_a_failing_wal_plugin_is_contained_logged_and_keeps_running(
    plugins: Path, background: bool, kind: str, error: str,
) -> None:
    with Engine(plugins, background=background, watch_plugins=False) as engine:
        engine.create_database("db")
        add(engine, "bad", "failer.py", "all_tables", {"kind": kind})
        add(engine, "good", "record.py", "all_tables")
        engine.write_lp("db", "m fail=true 1", precision="s")
        engine.flush()
        [logged] = [e for e in engine.observability.logs_for("db", "bad") if e.level == "ERROR"]
        assert logged.message.startswith(f"error executing wal plugin: {error}")
        assert logged.traceback is not None
        assert "in _fail" in logged.traceback
        assert plugin_lines(engine, "good") == ["m 1000000000"]  # the other trigger went on
        # The failed call's batched write was discarded; the next call works and writes.
        engine.write_lp("db", "m fail=false 2", precision="s")
        engine.flush()
        assert plugin_lines(engine, "bad")[-1] == "ok"
        assert engine.query("db", "SELECT n FROM written") == [{"n": 1}]
        rows = engine.query("db", "SELECT log_level, traceback FROM system.processing_engine_logs "
                                  "WHERE trigger_name = 'bad' AND log_level = 'ERROR'")
        assert len(rows) == 1
        assert "in _fail" in rows[0]["traceback"]


@pytest.mark.parametrize(("kind", "error"), FAILURES)
def test_failing_request_and_schedule_plugins_are_contained(
    engine: Engine, kind: str, error: str,
) -> None:
    add(engine, "req", "failer.py", "request:fail", {"kind": kind})
    add(engine, "tick", "failer.py", "every:1h", {"kind": kind})
    failed = engine.handle_request("fail", query_params={"fail": "1"})
    assert failed.status == 500
    assert failed.json()["error"].startswith(f"Python function call failed: {error}")
    assert engine.handle_request("fail").json() == {"ok": True}
    outcome = engine.run_trigger("db", "tick")
    assert outcome.status == "error"
    assert outcome.error is not None and outcome.error.startswith(error)
    assert outcome.traceback is not None and "in _fail" in outcome.traceback
    assert engine.running


# --- stopping a trigger while its plugin runs ------------------------------------------------

@pytest.mark.parametrize("stop", ["disable", "delete_force"])
def test_stopping_a_wal_trigger_mid_call_returns_at_once_and_discards_its_writes(
    engine: Engine, gate_files: dict[str, str], stop: str,
) -> None:
    add(engine, "gate", "gate.py", "all_tables", gate_files)
    engine.write_lp("db", "m f=1")
    flusher = threading.Thread(target=engine.flush, daemon=True)
    flusher.start()
    wait_for(lambda: Path(gate_files["started"]).exists())
    assert engine.in_flight("db", "gate") == 1
    with pytest.raises(TriggerBusy):
        engine.delete_trigger("db", "gate")
    started = time.perf_counter()
    if stop == "disable":
        engine.disable_trigger("db", "gate")
    else:
        engine.delete_trigger("db", "gate", force=True)
    assert time.perf_counter() - started < RETURNS_AT_ONCE_SECONDS
    flusher.join(5)
    assert not flusher.is_alive()  # nobody waits for the stopped trigger
    Path(gate_files["release"]).touch()
    wait_for(lambda: any(r.trigger_name == "gate" and r.status == "cancelled"
                         for r in engine.observability.runs()))
    engine.flush()
    assert engine.query("db", "SELECT count(*) AS n FROM information_schema.tables "
                              "WHERE table_name = 'gated'") == [{"n": 0}]
    if stop == "disable":
        assert engine.get_trigger("db", "gate").disabled
    else:
        assert [t.trigger_name for t in engine.list_triggers("db")] == []


@pytest.mark.parametrize("stop", ["disable", "delete_force"])
def test_stopping_a_request_trigger_mid_call_answers_the_waiting_request(
    engine: Engine, gate_files: dict[str, str], stop: str,
) -> None:
    add(engine, "gate", "gate.py", "request:gate", gate_files)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(engine.handle_request, "gate")
        wait_for(lambda: Path(gate_files["started"]).exists())
        started = time.perf_counter()
        if stop == "disable":
            engine.disable_trigger("db", "gate")
        else:
            engine.delete_trigger("db", "gate", force=True)
        assert time.perf_counter() - started < RETURNS_AT_ONCE_SECONDS
        response = pending.result(timeout=5)
    assert response.status == 503
    assert "stopped" in response.json()["error"]
    assert engine.handle_request("gate").status == 404


def test_delete_without_force_is_refused_only_while_a_call_is_in_flight(
    engine: Engine, gate_files: dict[str, str],
) -> None:
    add(engine, "gate", "gate.py", "request:gate", gate_files)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(engine.handle_request, "gate")
        wait_for(lambda: Path(gate_files["started"]).exists())
        with pytest.raises(TriggerBusy, match="running a plugin call"):
            engine.delete_trigger("db", "gate")
        Path(gate_files["release"]).touch()
        assert pending.result(timeout=10).status == 200
    engine.delete_trigger("db", "gate")
    assert engine.list_triggers("db") == []


def test_a_plugin_that_never_returns_holds_back_no_other_trigger(
    engine: Engine, gate_files: dict[str, str],
) -> None:
    add(engine, "stuck", "gate.py", "all_tables", gate_files, timeout=0.3)
    add(engine, "rec", "record.py", "all_tables")
    add(engine, "req", "where.py", "request:where")
    add(engine, "tick", "where.py", "every:1h")
    engine.write_lp("db", "m f=1 1", precision="s")
    engine.flush()  # waits for "stuck" at most its timeout
    started = time.perf_counter()
    engine.write_lp("db", "m f=2 2", precision="s")
    engine.flush()  # "stuck" is lagging: nobody waits for it
    assert time.perf_counter() - started < 0.3
    assert plugin_lines(engine, "rec") == ["m 1000000000", "m 2000000000"]
    assert engine.handle_request("where").status == 200
    assert engine.run_trigger("db", "tick").ok
    warnings = [e.message for e in engine.observability.logs_for("db", "stuck")
                if e.level == "WARN"]
    assert any("still processing a WAL flush" in w for w in warnings)
    # Released, it catches up on both flushes, in order.
    Path(gate_files["release"]).touch()
    wait_for(lambda: len([line for line in plugin_lines(engine, "stuck")
                          if line.startswith("released")]) == 2)
