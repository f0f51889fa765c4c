"""Running one trigger's plugin calls: ordering, containment of failures, error behaviour."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from datetime import datetime

from .calls import (
    ENTRY_POINTS,
    MAX_BACKOFF_SECONDS,
    Attempt,
    CallInput,
    CallOutcome,
    Claim,
    MissingEntryPoint,
    OutcomeSink,
    PluginAPILike,
    Prepared,
    Run,
    RuntimeServices,
    TriggerConfig,
    cancelled,
    claiming,
    claims_in_progress,
    plugin_args,
    positional,
    resolve,
)
from .observability import LogEntry, RunRecord
from .overrun import OVERRUNS
from .runlog import (
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
from .workers import WorkerPool

__all__ = [
    "REQUEST", "SCHEDULE", "WAL", "CallInput", "CallOutcome", "Claim", "PluginAPILike",
    "RuntimeServices", "TriggerConfig", "TriggerRuntime", "claiming", "format_duration_ns",
]

logger = logging.getLogger(__name__)


_NOT_STARTED = datetime.min


class TriggerRuntime:
    """The running side of one trigger: a queue for synchronous calls, the pool for async ones."""

    def __init__(self, config: TriggerConfig, services: RuntimeServices) -> None:
        self.config = config
        self._services = services
        self._obs = services.observability
        self._clock = services.clock
        self._entry_name, self._signature = ENTRY_POINTS[config.kind]
        # Only schedule calls name their tick in the start line; the others can share theirs.
        self._start_message = "" if config.kind == SCHEDULE else start_line(config.kind, None)
        self._lock = threading.Lock()
        self._queue: deque[tuple[CallInput, OutcomeSink]] = deque()
        self._draining = False
        self._in_flight = 0
        self._running: set[OutcomeSink] = set()
        self._stopped = threading.Event()

    @property
    def in_flight(self) -> int:
        """Plugin calls running right now."""
        return self._in_flight

    @property
    def pool(self) -> WorkerPool | None:
        """The pool this trigger's calls run on; None runs them in the caller's thread."""
        return self._services.pool

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
            resolve(future, cancelled())

    def submit(self, call: CallInput) -> Future[CallOutcome]:
        """Run a call: inline without a pool, in order for synchronous triggers.

        The future resolves when the call ends, or at once with status "cancelled" when the
        trigger is stopped first, so nobody waits on a plugin that was disabled mid-call.
        """
        future: Future[CallOutcome] = Future()
        self.submit_to(call, future)
        return future

    def submit_to(self, call: CallInput, sink: OutcomeSink) -> None:
        """`submit`, settling `sink` (which need not be a `Future`) with the outcome."""
        pool = self._services.pool
        if self.stopped:
            resolve(sink, cancelled())
        elif pool is None:
            resolve(sink, self.execute(call))
        elif self._enqueue(call, sink):
            pool.submit(self._run_one if self.config.run_async else self._drain)

    def _enqueue(self, call: CallInput, future: OutcomeSink) -> bool:
        """Queue or claim the call; True when a pool task must be started for it."""
        claims = claims_in_progress()
        run_async = self.config.run_async
        with self._lock:
            if claims is not None and (run_async or not self._draining):
                self._draining = self._draining or not run_async
                self._running.add(future)
                claims.append(Claim(self, call, future))
                return False
            self._queue.append((call, future))
            start = run_async or not self._draining
            self._draining = self._draining or not run_async
        return start

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

    def _finish(self, call: CallInput, future: OutcomeSink) -> None:
        run: Run | None = None
        try:
            run = self._begin(call)
            outcome = self._complete(run, self._attempt(run, run.started))
        except BaseException as exc:  # keep draining: one broken call must not strand the rest
            outcome = self._internal_error(exc)
        self._settled(future, outcome, run)

    def _settled(self, future: OutcomeSink, outcome: CallOutcome,
                 run: Run | None) -> None:
        with self._lock:
            self._running.discard(future)
        resolve(future, outcome)
        # Disabling stops this runtime; doing it after resolving keeps the real outcome.
        if run is not None and run.disable_reason is not None:
            self._disable(run.disable_reason)

    def _disable(self, reason: str) -> None:
        try:
            self._services.disable(reason)
        except Exception:  # e.g. the engine stopped meanwhile: the trigger is stopped anyway
            logger.warning("trigger %s: could not disable it (%s)", self.config.name, reason,
                           exc_info=True)

    def _internal_error(self, exc: BaseException) -> CallOutcome:
        logger.error("trigger %s: internal error running a call", self.config.name,
                     exc_info=exc)
        return CallOutcome(status="error", error=f"internal error: {exc}")

    def execute(self, call: CallInput) -> CallOutcome:
        """Run the plugin for one input in this thread, with retries as the settings say."""
        run = self._begin(call)
        outcome = self._complete(run, self._attempt(run, run.started))
        if run.disable_reason is not None:
            self._disable(run.disable_reason)
        return outcome

    # --- claimed calls (tick batches) --------------------------------------------------------

    def prepare_claim(self, claim: Claim) -> None:
        """Before the tick: load the entry point and build `influxdb3_local` (errors kept)."""
        if not self.stopped:
            prepared = claim.prepared = self._prepare(claim.call)
            # Nobody reads a scheduled tick's outcome lines: not keeping them spares the
            # garbage collector thousands of objects per tick (they stay in the log buffer).
            prepared.run = Run(call=claim.call, started=_NOT_STARTED, t0=0, entries=None)

    def invoke_claim(self, claim: Claim) -> None:
        """At the tick: call the plugin; the bookkeeping waits for `settle_claim`."""
        if self.stopped:
            return
        try:
            prepared = claim.prepared or self._prepare(claim.call)
            run = self._start(prepared.run or Run(call=claim.call, started=_NOT_STARTED, t0=0,
                                                  entries=None))
        except BaseException as exc:  # the batch must go on with the other claims
            self._settled(claim.future, self._internal_error(exc), None)
            return
        claim.run = run
        try:
            claim.attempt = self._invoke(run, prepared, run.started)
        except BaseException as exc:  # _invoke contains plugin failures; this is our own
            claim.attempt = Attempt(prepared.api, None, exc, 0)
        run.paused_at = time.perf_counter_ns()
        if run.watch is not None:  # waiting for the batch's bookkeeping is not running
            run.watch.done()

    def settle_claim(self, claim: Claim) -> None:
        """After the batch's calls: write back, log, retry or disable, record, then go on."""
        if claim.run is None:
            if not claim.future.done():
                self._settled(claim.future, cancelled(), None)
            self._after_claim()
            return
        run = claim.run
        run.t0 += time.perf_counter_ns() - run.paused_at  # time spent waiting is not run time
        attempt = claim.attempt
        assert attempt is not None
        pool = self._services.pool
        if attempt.error is not None and self._retrying and pool is not None:
            pool.submit(lambda: self._finish_claim(claim, run, attempt))  # back-off may be long
        else:
            self._finish_claim(claim, run, attempt)

    def _finish_claim(self, claim: Claim, run: Run, attempt: Attempt) -> None:
        try:
            outcome = self._complete(run, attempt)
        except BaseException as exc:
            outcome = self._internal_error(exc)
        self._settled(claim.future, outcome, run)
        self._after_claim()

    def _after_claim(self) -> None:
        if self.config.run_async:
            return
        with self._lock:
            more = bool(self._queue)
            self._draining = more
        if more and self._services.pool is not None:
            self._services.pool.submit(self._drain)

    # --- one execution -----------------------------------------------------------------------

    @property
    def _retrying(self) -> bool:
        return self.config.error_behavior == "retry" and self.config.kind != REQUEST

    def _begin(self, call: CallInput) -> Run:
        return self._start(Run(call=call, started=_NOT_STARTED, t0=0,
                               entries=[] if call.keep_log else None))

    def _start(self, run: Run) -> Run:
        with self._lock:
            self._in_flight += 1
        run.started = self._clock.now()
        run.t0 = time.perf_counter_ns()
        limit = self.config.timeout
        if limit is not None:
            run.watch = OVERRUNS.watch(limit, lambda: self._still_running(limit))
        return run

    def _still_running(self, limit: float) -> None:
        self.log("WARN", f"execution still running after its {limit:g}s timeout")

    def _attempt(self, run: Run, now: datetime) -> Attempt:
        return self._invoke(run, self._prepare(run.call), now)

    def _prepare(self, call: CallInput) -> Prepared:
        message = self._start_message or start_line(call.kind, call.scheduled_time)
        args = (*positional(call), plugin_args(self.config.arguments))
        try:
            function = self._services.load_function(self._entry_name)
            api = None if function is None else self._services.make_api()
        except BaseException as exc:  # reported by _invoke, with the start line before it
            return Prepared(None, None, exc, message, args)
        return Prepared(function, api, None, message, args)

    def _invoke(self, run: Run, prepared: Prepared, now: datetime) -> Attempt:
        """Call the plugin once; `now` is when the attempt starts (its start line's time)."""
        self._line(run, "INFO", prepared.start_message, None, now)
        api = prepared.api
        t0 = time.perf_counter_ns()
        try:
            if prepared.failed is not None:
                raise prepared.failed
            function = prepared.function
            if function is None:
                raise MissingEntryPoint(f"the {self._entry_name} function is not present in "
                                        f"the plugin. Should be defined as: {self._signature}")
            value = function(api, *prepared.args)
        except BaseException as exc:  # plugins may raise SystemExit/KeyboardInterrupt: contain it
            return Attempt(api, None, exc, time.perf_counter_ns() - t0)
        return Attempt(api, value, None, time.perf_counter_ns() - t0)

    def _settle(self, run: Run, attempt: Attempt) -> CallOutcome:
        api = attempt.api
        if api is not None and run.entries is not None:
            run.entries.extend(getattr(api, "log_entries", ()))
        if self.stopped:
            return cancelled("trigger stopped mid-call")
        if attempt.error is not None:
            return self._failed(run, attempt.error)
        assert api is not None
        written = self._write_back(run, api)
        self._line(run, "INFO", finished_line(attempt.elapsed_ns))
        return CallOutcome(status="success", value=attempt.value, lines_written=written)

    def _complete(self, run: Run, attempt: Attempt) -> CallOutcome:
        try:
            outcome = self._with_policy(run, self._settle(run, attempt))
        finally:
            if run.watch is not None:
                run.watch.done()
            with self._lock:
                self._in_flight -= 1
        duration = (time.perf_counter_ns() - run.t0) / 1e9
        outcome.duration_seconds = duration
        outcome.timed_out = self._check_timeout(run, duration)
        outcome.log_entries = run.entries or []
        self._record(run, outcome, duration)
        return outcome

    def _with_policy(self, run: Run, outcome: CallOutcome) -> CallOutcome:
        cfg = self.config
        attempts = 1
        while outcome.status == "error" and self._retrying and attempts <= cfg.max_retries:
            delay = min(cfg.retry_backoff * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
            self._line(run, "WARN", f"attempt {attempts} of {cfg.max_retries + 1} failed, "
                       f"retrying in {delay:g}s: {outcome.error}")
            if self._stopped.wait(delay):
                outcome = cancelled(f"trigger stopped while retrying after: {outcome.error}")
                break
            attempts += 1
            outcome = self._settle(run, self._attempt(run, self._clock.now()))
        outcome.attempts = attempts
        if outcome.status == "error" and cfg.kind != REQUEST:
            self._after_failure(run, outcome)
        return outcome

    def _after_failure(self, run: Run, outcome: CallOutcome) -> None:
        cfg = self.config
        if cfg.kind == SCHEDULE:
            self._line(run, "ERROR", scheduled_error_line(cfg.run_async, str(outcome.error)))
        if self._retrying:
            self._line(run, "ERROR",
                       f"giving up after {outcome.attempts} attempts: {outcome.error}")
        if cfg.error_behavior == "disable" and not self.stopped:
            run.disable_reason = f"disabled after error: {outcome.error}"
            self._line(run, "ERROR",
                       f"disabling trigger {cfg.name} after error: {outcome.error}")

    def _failed(self, run: Run, exc: BaseException) -> CallOutcome:
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, MissingEntryPoint):
            message = str(exc)
        trace = "".join(traceback.format_exception(exc))
        self._line(run, "ERROR", error_line(self.config.kind, message), trace)
        return CallOutcome(status="error", error=message, traceback=trace)

    def _write_back(self, run: Run, api: PluginAPILike) -> int:
        pending = api.pending_writes()
        if not pending or not any(pending.values()):
            return 0
        try:
            return self._services.apply_writes(pending)
        except Exception as exc:  # write-back failures are logged, the call still succeeded
            self._line(run, "ERROR", write_back_error_line(self.config.kind, str(exc)))
            return 0

    def _check_timeout(self, run: Run, duration: float) -> bool:
        limit = self.config.timeout
        if limit is None or duration <= limit:
            return False
        self._line(run, "WARN", f"execution took {duration:.3f}s, over the {limit:g}s timeout")
        return True

    def _record(self, run: Run, outcome: CallOutcome, duration: float) -> None:
        cfg = self.config
        call = run.call
        self._obs.record_run(RunRecord(
            database=cfg.database, trigger_name=cfg.name, kind=cfg.kind,
            scheduled_time=call.scheduled_time, started=run.started, duration_seconds=duration,
            status=outcome.status, attempts=outcome.attempts,
            rows_in=call.rows_in if call.table_batches else 0,
            lines_written=outcome.lines_written, error=outcome.error,
            traceback=outcome.traceback, timed_out=outcome.timed_out,
        ))

    def _line(self, run: Run, level: str, message: str, trace: str | None = None,
              when: datetime | None = None) -> None:
        if run.entries is None and trace is None:
            cfg = self.config
            self._obs.line(when or self._clock.now(), cfg.database, cfg.name, level, message)
            return
        entry = self.log(level, message, trace, when)
        if run.entries is not None:
            run.entries.append(entry)

    def log(self, level: str, message: str, trace: str | None = None,
            when: datetime | None = None) -> LogEntry:
        """Write a framework line to this trigger's log (at `when`, default now); returns it."""
        entry = LogEntry(time=when or self._clock.now(), database=self.config.database,
                         trigger_name=self.config.name, level=level, message=message,
                         traceback=trace)
        self._obs.log(entry)
        return entry
