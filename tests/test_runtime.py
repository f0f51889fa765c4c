"""One trigger's calls: ordering, failure containment and the error behaviours."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from engine.batches import TableBatch
from engine.clock import ManualClock
from engine.observability import LogEntry, Observability
from engine.runtime import (
    REQUEST,
    SCHEDULE,
    WAL,
    CallInput,
    CallOutcome,
    RuntimeServices,
    TriggerConfig,
    TriggerRuntime,
)
from engine.workers import WorkerPool


class _Api:
    def __init__(self) -> None:
        self.writes: dict[str, list[str]] = {}

    def write(self, line: str) -> None:
        self.writes.setdefault("db", []).append(line)

    def pending_writes(self) -> Mapping[str, list[str]]:
        return self.writes

    @property
    def log_entries(self) -> list[LogEntry]:
        return []


class _Host:
    """A small real host: records applied writes and disable calls."""

    def __init__(self, function: Callable[..., Any] | None, pool: WorkerPool | None = None) -> None:
        self.function = function
        self.applied: list[Mapping[str, list[str]]] = []
        self.disabled: list[str] = []
        self.observability = Observability()
        self.services = RuntimeServices(
            clock=ManualClock(datetime(2025, 1, 1, tzinfo=UTC)),
            observability=self.observability,
            load_function=lambda name: self.function,
            make_api=_Api,
            apply_writes=self._apply,
            disable=self.disabled.append,
            pool=pool,
        )

    def _apply(self, pending: Mapping[str, list[str]]) -> int:
        self.applied.append(pending)
        return sum(len(v) for v in pending.values())

    def messages(self) -> list[str]:
        return [e.message for e in self.observability.logs()]


def _runtime(host: _Host, kind: str = WAL, **settings: Any) -> TriggerRuntime:
    config = TriggerConfig(database="db", name="t", kind=kind, arguments={"k": "v"}, **settings)
    return TriggerRuntime(config, host.services)


def test_wal_call_gets_batches_and_args_and_writes_back() -> None:
    seen: list[Any] = []

    def process_writes(api: _Api, batches: list[Any], args: dict[str, str]) -> None:
        seen.append((batches, args))
        api.write("out v=1")

    host = _Host(process_writes)
    outcome = _runtime(host).submit(CallInput(kind=WAL, table_batches=[])).result()
    assert outcome.ok and outcome.lines_written == 1
    assert seen == [([], {"k": "v"})]
    assert host.applied == [{"db": ["out v=1"]}]
    assert host.messages()[0] == "starting execution of wal plugin."
    assert host.messages()[1].startswith("finished execution in ")


def test_schedule_call_time_is_naive_utc_whole_seconds() -> None:
    seen: list[datetime] = []
    host = _Host(lambda api, call_time, args: seen.append(call_time))
    tick = datetime(2025, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)
    _runtime(host, SCHEDULE).submit(CallInput(kind=SCHEDULE, scheduled_time=tick)).result()
    assert seen == [datetime(2025, 3, 1, 6, 0, 0)]
    assert host.messages()[0] == "starting execution with scheduled time 2025-03-01 06:00:00 UTC"


def test_request_call_gets_params_headers_body() -> None:
    host = _Host(lambda api, q, h, body, args: {"q": q, "h": h, "body": body.decode()})
    call = CallInput(kind=REQUEST, query_parameters={"a": "1"}, headers={"x": "y"}, body=b"hi")
    outcome = _runtime(host, REQUEST).submit(call).result()
    assert outcome.value == {"q": {"a": "1"}, "h": {"x": "y"}, "body": "hi"}


def _raise(exc: BaseException) -> Callable[..., None]:
    def plugin(*_args: Any) -> None:
        raise exc
    return plugin


def _recurse(*_args: Any) -> None:
    _recurse()


@pytest.mark.parametrize("plugin, expected", [
    (_raise(ValueError("boom")), "ValueError: boom"),
    (_raise(SystemExit(2)), "SystemExit: 2"),
    (_raise(KeyboardInterrupt()), "KeyboardInterrupt: "),
    (_recurse, "RecursionError: maximum recursion depth exceeded"),
    (_raise(MemoryError()), "MemoryError: "),
], ids=["exception", "sys-exit", "keyboard-interrupt", "recursion", "out-of-memory"])
def test_failures_are_contained_logged_and_discard_batched_writes(
        plugin: Callable[..., None], expected: str) -> None:
    host = _Host(plugin)
    outcome = _runtime(host).submit(CallInput(kind=WAL, table_batches=[])).result()
    assert outcome.status == "error"
    assert outcome.error is not None and outcome.error.startswith(expected)
    assert outcome.traceback and "Traceback" in outcome.traceback
    assert host.applied == []
    errors = [e for e in host.observability.logs() if e.level == "ERROR"]
    assert errors[0].message.startswith("error executing wal plugin: ")
    assert errors[0].traceback


def test_missing_entry_point_quotes_the_expected_signature() -> None:
    host = _Host(None)
    outcome = _runtime(host, SCHEDULE).submit(CallInput(kind=SCHEDULE,
                                                        scheduled_time=datetime.now(UTC))).result()
    assert outcome.error == (
        "the process_scheduled_call function is not present in the plugin. Should be defined "
        "as: process_scheduled_call(influxdb3_local, call_time, args=None)")


def test_retry_repeats_the_same_input_then_gives_up() -> None:
    calls: list[Any] = []

    def flaky(api: _Api, batches: list[Any], args: Any) -> None:
        calls.append(batches)
        raise RuntimeError("down")

    host = _Host(flaky)
    batches: list[Any] = []
    runtime = _runtime(host, error_behavior="retry", max_retries=3, retry_backoff=0.0)
    outcome = runtime.submit(CallInput(kind=WAL, table_batches=batches)).result()
    assert outcome.attempts == 4 and len(calls) == 4
    assert all(c is batches for c in calls)
    assert any("giving up after 4 attempts" in m for m in host.messages())
    assert host.observability.runs()[-1].attempts == 4


def test_retry_succeeds_when_the_plugin_recovers() -> None:
    calls: list[int] = []

    def recovers(api: _Api, batches: list[Any], args: Any) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    host = _Host(recovers)
    runtime = _runtime(host, error_behavior="retry", max_retries=5, retry_backoff=0.0)
    outcome = runtime.submit(CallInput(kind=WAL, table_batches=[])).result()
    assert outcome.ok and outcome.attempts == 3


def test_disable_behaviour_asks_the_engine_to_disable() -> None:
    host = _Host(_raise(ValueError("bad")))
    _runtime(host, error_behavior="disable").submit(CallInput(kind=WAL, table_batches=[])).result()
    assert host.disabled == ["disabled after error: ValueError: bad"]


def test_request_triggers_are_never_retried_or_disabled() -> None:
    host = _Host(_raise(ValueError("bad")))
    runtime = _runtime(host, REQUEST, error_behavior="disable")
    outcome = runtime.submit(CallInput(kind=REQUEST)).result()
    assert outcome.attempts == 1 and host.disabled == []


def test_synchronous_trigger_runs_one_call_at_a_time_in_order() -> None:
    active = {"now": 0, "max": 0}
    order: list[int] = []
    lock = threading.Lock()

    def slow(api: _Api, batches: list[Any], args: Any) -> None:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.01)
        order.append(len(batches))
        with lock:
            active["now"] -= 1

    pool = WorkerPool(8)
    host = _Host(slow, pool)
    runtime = _runtime(host)
    futures = [runtime.submit(CallInput(kind=WAL, table_batches=[_empty_batch()] * i))
               for i in range(10)]
    for f in futures:
        f.result(timeout=10)
    assert active["max"] == 1
    assert order == list(range(10))
    pool.shutdown()


def _empty_batch() -> TableBatch:
    return TableBatch("t", pa.table({"time": pa.array([], pa.int64())}), list)


def test_async_trigger_runs_calls_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)
    pool = WorkerPool(8)
    host = _Host(lambda api, batches, args: barrier.wait(), pool)
    runtime = _runtime(host, run_async=True)
    futures = [runtime.submit(CallInput(kind=WAL, table_batches=[])) for _ in range(3)]
    assert all(f.result(timeout=10).ok for f in futures)
    pool.shutdown()


def test_stop_returns_at_once_and_discards_the_running_calls_writes() -> None:
    started, release = threading.Event(), threading.Event()

    def blocking(api: _Api, batches: list[Any], args: Any) -> None:
        api.write("late v=1")
        started.set()
        release.wait(10)

    pool = WorkerPool(2)
    host = _Host(blocking, pool)
    runtime = _runtime(host)
    running = runtime.submit(CallInput(kind=WAL, table_batches=[]))
    queued = runtime.submit(CallInput(kind=WAL, table_batches=[]))
    assert started.wait(5)
    t0 = time.perf_counter()
    runtime.stop()
    assert time.perf_counter() - t0 < 0.1
    assert queued.result(timeout=1).status == "cancelled"
    release.set()
    assert running.result(timeout=5).status == "cancelled"
    assert host.applied == []
    pool.shutdown()


def test_soft_timeout_is_logged_and_marked() -> None:
    host = _Host(lambda api, batches, args: time.sleep(0.05))
    runtime = _runtime(host, timeout=0.01)
    assert runtime.submit(CallInput(kind=WAL, table_batches=[])).result().ok
    assert any("over the 0.01s timeout" in m for m in host.messages())
    assert host.observability.runs()[-1].timed_out


def test_a_call_still_running_past_its_timeout_is_reported_while_it_runs() -> None:
    release = threading.Event()
    pool = WorkerPool(2)
    host = _Host(lambda api, batches, args: release.wait(10), pool)
    future = _runtime(host, timeout=0.02).submit(CallInput(kind=WAL, table_batches=[]))
    pause = threading.Event()
    for _ in range(1000):
        if "execution still running after its 0.02s timeout" in host.messages():
            break
        pause.wait(0.005)
    assert "execution still running after its 0.02s timeout" in host.messages()
    assert not future.done()
    release.set()
    outcome = future.result(timeout=5)
    assert outcome.ok and outcome.timed_out
    pool.shutdown()


def test_no_timeout_warning_for_a_call_that_ends_in_time() -> None:
    host = _Host(lambda api, batches, args: None)
    outcome = _runtime(host, timeout=0.05).submit(CallInput(kind=WAL, table_batches=[])).result()
    threading.Event().wait(0.1)  # past the deadline the call no longer has
    assert outcome.ok and not outcome.timed_out
    assert not [m for m in host.messages() if "timeout" in m]


class _Sink:
    """A sink that is not a Future: records every outcome it is given, and the thread."""

    def __init__(self) -> None:
        self.outcomes: list[CallOutcome] = []
        self.threads: list[int] = []
        self.settled = threading.Event()

    def set_result(self, result: CallOutcome, /) -> None:
        self.outcomes.append(result)
        self.threads.append(threading.get_ident())
        self.settled.set()

    def done(self) -> bool:
        return bool(self.outcomes)


@pytest.mark.parametrize("pooled", [False, True], ids=["inline", "pool"])
def test_submit_to_settles_any_sink_with_the_outcome(pooled: bool) -> None:
    pool = WorkerPool(2) if pooled else None
    ran_in: list[int] = []

    def plugin(api: _Api, q: Any, h: Any, body: bytes, args: Any) -> str:
        ran_in.append(threading.get_ident())
        return body.decode()

    runtime = _runtime(_Host(plugin, pool), REQUEST)
    sink = _Sink()
    runtime.submit_to(CallInput(kind=REQUEST, body=b"to the sink"), sink)
    assert sink.settled.wait(5)
    assert [o.status for o in sink.outcomes] == ["success"]
    assert sink.outcomes[0].value == "to the sink"
    assert sink.threads == ran_in
    assert (ran_in[0] == threading.get_ident()) is not pooled
    if pool is not None:
        pool.shutdown()


def test_submit_to_a_stopped_runtime_settles_the_sink_cancelled_at_once() -> None:
    called: list[int] = []
    runtime = _runtime(_Host(lambda *args: called.append(1), WorkerPool(1)), REQUEST)
    runtime.stop()
    sink = _Sink()
    runtime.submit_to(CallInput(kind=REQUEST), sink)
    assert [o.status for o in sink.outcomes] == ["cancelled"]
    assert sink.done() and called == []


def test_stop_settles_queued_and_running_sinks_as_cancelled() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[bytes] = []

    def blocking(api: _Api, q: Any, h: Any, body: bytes, args: Any) -> None:
        calls.append(body)
        started.set()
        release.wait(10)

    pool = WorkerPool(2)
    runtime = _runtime(_Host(blocking, pool), REQUEST)
    running, queued = _Sink(), _Sink()
    runtime.submit_to(CallInput(kind=REQUEST, body=b"first"), running)
    runtime.submit_to(CallInput(kind=REQUEST, body=b"second"), queued)
    assert started.wait(5)
    assert not queued.done() and not running.done()
    runtime.stop()
    assert [o.status for o in queued.outcomes] == ["cancelled"]
    assert [o.status for o in running.outcomes] == ["cancelled"]
    release.set()
    for _ in range(1000):  # the running call ends, unheard: its outcome is cancelled too
        if len(running.outcomes) > 1:
            break
        threading.Event().wait(0.005)
    assert [o.status for o in running.outcomes] == ["cancelled", "cancelled"]
    assert [o.status for o in queued.outcomes] == ["cancelled"]
    assert calls == [b"first"]
    pool.shutdown()


class _LoggingApi(_Api):
    """Logs like the real `influxdb3_local`: to the engine's log at once, and kept per call."""

    def __init__(self, observability: Observability) -> None:
        super().__init__()
        self._observability = observability
        self._entries: list[LogEntry] = []

    def info(self, message: str) -> None:
        entry = LogEntry(time=datetime(2025, 1, 1, tzinfo=UTC), database="db", trigger_name="t",
                         level="INFO", message=message)
        self._entries.append(entry)
        self._observability.log(entry)

    @property
    def log_entries(self) -> list[LogEntry]:
        return list(self._entries)


def _logging_host(plugin: Callable[..., Any]) -> _Host:
    host = _Host(plugin)
    observability = host.observability
    host.services = dataclasses.replace(host.services,
                                        make_api=lambda: _LoggingApi(observability))
    return host


def _says_hello(api: _LoggingApi, q: Any, h: Any, body: bytes, args: Any) -> str:
    api.info("hello from the plugin")
    return "ok"


def _says_hello_then_fails(api: _LoggingApi, q: Any, h: Any, body: bytes, args: Any) -> None:
    api.info("hello from the plugin")
    raise ValueError("boom")


@pytest.mark.parametrize(("plugin", "lines"), [
    (_says_hello, ["starting execution of request plugin.", "hello from the plugin",
                   "finished execution in "]),
    (_says_hello_then_fails, ["starting execution of request plugin.", "hello from the plugin",
                              "error running request plugin: ValueError: boom"]),
], ids=["success", "failure"])
@pytest.mark.parametrize("keep_log", [True, False], ids=["keep-log", "no-log-kept"])
def test_keep_log_decides_whether_the_outcome_carries_the_lines_the_log_gets_them_anyway(
        plugin: Callable[..., Any], lines: list[str], keep_log: bool) -> None:
    host = _logging_host(plugin)
    outcome = _runtime(host, REQUEST).submit(CallInput(kind=REQUEST, keep_log=keep_log)).result()
    logged = host.messages()
    assert len(logged) == len(lines)
    assert all(message.startswith(line) for message, line in zip(logged, lines, strict=True))
    if keep_log:
        assert [e.message for e in outcome.log_entries] == logged
    else:
        assert outcome.log_entries == [] and outcome.log_lines == []
    if outcome.status == "error":
        [error] = [e for e in host.observability.logs() if e.level == "ERROR"]
        assert error.traceback and "ValueError: boom" in error.traceback
