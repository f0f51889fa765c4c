"""Running one trigger's plugin calls: ordering, containment of failures, error behaviour."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from .batches import TableBatch
from .clock import Clock
from .observability import LogEntry, Observability, RunRecord
from .workers import WorkerPool

logger = logging.getLogger(__name__)

WAL, SCHEDULE, REQUEST = "wal", "schedule", "request"

_ENTRY = {
    WAL: ("process_writes", "process_writes(influxdb3_local, table_batches, args=None)"),
    SCHEDULE: (
        "process_scheduled_call",
        "process_scheduled_call(influxdb3_local, call_time, args=None)",
    ),
    REQUEST: (
        "process_request",
        "process_request(influxdb3_local, query_parameters, request_headers, request_body, "
        "args=None) -> Tuple[str, Optional[Dict[str, str]]]",
    ),
}
_KIND_LABEL = {WAL: "wal plugin", SCHEDULE: "schedule plugin", REQUEST: "request plugin"}


@dataclass(frozen=True, kw_only=True)
class CallInput:
    """What one plugin call receives."""

    kind: str
    table_batches: list[TableBatch] | None = None
    scheduled_time: datetime | None = None
    query_parameters: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    body: bytes = b""

    @property
    def rows_in(self) -> int:
        """How many rows the call was handed."""
        return sum(b.to_arrow().num_rows for b in self.table_batches or ())

    @property
    def call_time(self) -> datetime | None:
        """The scheduled tick as plugins see it: naive UTC, whole seconds."""
        if self.scheduled_time is None:
            return None
        return self.scheduled_time.astimezone(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(kw_only=True)
class CallOutcome:
    """How one plugin execution (all its attempts) ended."""

    status: str
    attempts: int = 0
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    lines_written: int = 0
    log_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plugin returned normally."""
        return self.status == "success"


class PluginAPILike(Protocol):
    """The parts of the `influxdb3_local` object the runtime needs after a call."""

    def pending_writes(self) -> Mapping[str, list[str]]:
        """Lines written with `write`/`write_to_db`, by database."""
        ...


@dataclass(frozen=True, kw_only=True)
class TriggerConfig:
    """What the runtime needs to know about a trigger."""

    database: str
    name: str
    kind: str
    arguments: Mapping[str, str] | None
    run_async: bool = False
    error_behavior: str = "log"
    max_retries: int = 5
    retry_backoff: float = 1.0
    timeout: float | None = None


@dataclass(frozen=True, kw_only=True)
class RuntimeServices:
    """Engine callbacks the runtime uses, so it knows nothing of storage or the catalog."""

    clock: Clock
    observability: Observability
    load_function: Callable[[str], Callable[..., Any] | None]
    make_api: Callable[[], PluginAPILike]
    apply_writes: Callable[[Mapping[str, list[str]]], int]
    disable: Callable[[str], None]
    pool: WorkerPool | None


class TriggerRuntime:
    """The running side of one trigger: a queue for synchronous calls, the pool for async ones."""

    def __init__(self, config: TriggerConfig, services: RuntimeServices) -> None:
        self.config = config
        self._services = services
        self._lock = threading.Lock()
        self._queue: deque[tuple[CallInput, Future[CallOutcome]]] = deque()
        self._draining = False
        self._in_flight = 0
        self._running: set[Future[CallOutcome]] = set()
        self._stopped = threading.Event()

    @property
    def in_flight(self) -> int:
        """Plugin calls running right now."""
        return self._in_flight

    @property
    def stopped(self) -> bool:
        """True once the trigger was disabled or deleted."""
        return self._stopped.is_set()

    def stop(self) -> None:
        """Stop taking calls; queued calls are dropped, a running call finishes unheard."""
        self._stopped.set()
        with self._lock:
            dropped = [future for _, future in self._queue] + list(self._running)
            self._queue.clear()
        for future in dropped:
            _resolve(future, _CANCELLED)

    def submit(self, call: CallInput) -> Future[CallOutcome]:
        """Run a call: inline without a pool, in order for synchronous triggers.

        The future resolves when the call ends, or at once with status "cancelled" when the
        trigger is stopped first, so nobody waits on a plugin that was disabled mid-call.
        """
        future: Future[CallOutcome] = Future()
        if self.stopped:
            _resolve(future, _CANCELLED)
            return future
        pool = self._services.pool
        if pool is None:
            _resolve(future, self.execute(call))
            return future
        with self._lock:
            self._queue.append((call, future))
            start = self.config.run_async or not self._draining
            self._draining = self._draining or not self.config.run_async
        if start:
            pool.submit(self._run_one if self.config.run_async else self._drain)
        return future

    def _run_one(self) -> None:
        with self._lock:
            if not self._queue:
                return
            call, future = self._queue.popleft()
            self._running.add(future)
        self._finish(call, future)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                call, future = self._queue.popleft()
                self._running.add(future)
            self._finish(call, future)

    def _finish(self, call: CallInput, future: Future[CallOutcome]) -> None:
        try:
            outcome = self.execute(call)
        except BaseException as exc:  # keep draining: one broken call must not strand the rest
            logger.exception("trigger %s: internal error running a call", self.config.name)
            outcome = CallOutcome(status="error", error=f"internal error: {exc}")
        with self._lock:
            self._running.discard(future)
        _resolve(future, outcome)

    def execute(self, call: CallInput) -> CallOutcome:
        """Run the plugin for one input, with retries as the trigger's settings say."""
        started = self._services.clock.now()
        t0 = time.perf_counter()
        with self._lock:
            self._in_flight += 1
        try:
            outcome = self._execute_with_policy(call)
        finally:
            with self._lock:
                self._in_flight -= 1
        duration = time.perf_counter() - t0
        timed_out = self._check_timeout(duration)
        self._record(call, outcome, started, duration, timed_out)
        return outcome

    def _execute_with_policy(self, call: CallInput) -> CallOutcome:
        cfg = self.config
        retrying = cfg.error_behavior == "retry" and cfg.kind != REQUEST
        attempts = 0
        while True:
            attempts += 1
            outcome = self._attempt(call)
            outcome.attempts = attempts
            if outcome.ok or outcome.status == "cancelled" or cfg.kind == REQUEST:
                return outcome
            if not retrying or attempts > cfg.max_retries or self.stopped:
                break
            delay = min(cfg.retry_backoff * 2 ** (attempts - 1), 300.0)
            self.log("WARN", f"attempt {attempts} failed: {outcome.error}; retrying in {delay:g}s")
            if self._stopped.wait(delay):
                break
        self._after_failure(outcome, retrying)
        return outcome

    def _after_failure(self, outcome: CallOutcome, retried: bool) -> None:
        cfg = self.config
        if retried:
            self.log("ERROR", f"giving up after {outcome.attempts} attempts: {outcome.error}")
        if cfg.error_behavior == "disable" and not self.stopped:
            reason = f"disabled after error: {outcome.error}"
            self.log("ERROR", f"disabling trigger {cfg.name}: {outcome.error}")
            self._services.disable(reason)

    def _attempt(self, call: CallInput) -> CallOutcome:
        cfg = self.config
        name, signature = _ENTRY[cfg.kind]
        self.log("INFO", _start_line(call))
        t0 = time.perf_counter_ns()
        try:
            function = self._services.load_function(name)
            if function is None:
                raise _MissingEntryPoint(
                    f"the {name} function is not present in the plugin. "
                    f"Should be defined as: {signature}"
                )
            api = self._services.make_api()
            value = function(api, *_positional(call), _args(cfg.arguments))
        except BaseException as exc:  # plugins may raise SystemExit/KeyboardInterrupt: contain it
            if self.stopped:
                return CallOutcome(status="cancelled", error="trigger stopped mid-call")
            return self._failed(exc)
        if self.stopped:
            return CallOutcome(status="cancelled", value=value, error="trigger stopped mid-call")
        written = self._write_back(api)
        self.log("INFO", f"finished execution in {format_duration_ns(time.perf_counter_ns() - t0)}")
        return CallOutcome(status="success", value=value, lines_written=written)

    def _failed(self, exc: BaseException) -> CallOutcome:
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, _MissingEntryPoint):
            message = str(exc)
        trace = "".join(traceback.format_exception(exc))
        label = _KIND_LABEL[self.config.kind]
        if self.config.kind == REQUEST:
            self.log("ERROR", f"error running {label}: {message}", trace)
        else:
            self.log("ERROR", f"error executing {label}: {message}", trace)
        return CallOutcome(status="error", error=message, traceback=trace)

    def _write_back(self, api: PluginAPILike) -> int:
        pending = api.pending_writes()
        if not any(pending.values()):
            return 0
        try:
            return self._services.apply_writes(pending)
        except Exception as exc:  # write-back failures are logged, the call still succeeded
            label = _KIND_LABEL[self.config.kind]
            self.log("ERROR", f"error running {label}: error writing back lines: {exc}")
            return 0

    def _check_timeout(self, duration: float) -> bool:
        limit = self.config.timeout
        if limit is None or duration <= limit:
            return False
        self.log("WARN", f"execution took {duration:.3f}s, over the {limit:g}s timeout")
        return True

    def _record(self, call: CallInput, outcome: CallOutcome, started: datetime,
                duration: float, timed_out: bool) -> None:
        cfg = self.config
        self._services.observability.record_run(RunRecord(
            database=cfg.database, trigger_name=cfg.name, kind=cfg.kind,
            scheduled_time=call.scheduled_time, started=started, duration_seconds=duration,
            status=outcome.status, attempts=outcome.attempts, rows_in=call.rows_in,
            lines_written=outcome.lines_written, error=outcome.error, timed_out=timed_out,
        ))

    def log(self, level: str, message: str, trace: str | None = None) -> None:
        """Write a framework line to this trigger's log."""
        self._services.observability.log(LogEntry(
            time=self._services.clock.now(), database=self.config.database,
            trigger_name=self.config.name, level=level, message=message, traceback=trace,
        ))


_CANCELLED = CallOutcome(status="cancelled", error="trigger stopped")


def _resolve(future: Future[CallOutcome], outcome: CallOutcome) -> None:
    if not future.done():
        with contextlib.suppress(InvalidStateError):  # stop() resolved it first
            future.set_result(outcome)


class _MissingEntryPoint(Exception):
    """The plugin lacks the function its trigger kind calls."""


def _positional(call: CallInput) -> tuple[Any, ...]:
    if call.kind == WAL:
        return ([] if call.table_batches is None else call.table_batches,)
    if call.kind == SCHEDULE:
        return (call.call_time,)
    return (dict(call.query_parameters or {}), dict(call.headers or {}), call.body)


def _args(arguments: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if arguments is None else dict(arguments)


def _start_line(call: CallInput) -> str:
    if call.kind == WAL:
        return "starting execution of wal plugin."
    if call.kind == SCHEDULE and call.scheduled_time is not None:
        tick = call.scheduled_time.astimezone(UTC)
        return f"starting execution with scheduled time {tick:%Y-%m-%d %H:%M:%S} UTC"
    return "starting execution of request plugin."


def format_duration_ns(ns: int) -> str:
    """Render a duration the way InfluxDB 3's log lines do (`1ms 234us 567ns`)."""
    if ns <= 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
                       ("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
        count, ns = divmod(ns, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
