"""Plugin benchmarks for plugin authors: drive one trigger with load and split time spent.

`run_bench` creates the trigger in the given `Engine` (in memory, started) and drives it with
the load its specification's kind takes: line protocol writes, each flushed (`table:` and
`all_tables`), `handle_request` calls from `concurrency` threads (`request:`), or `run_trigger`
calls (`cron:` and `every:`). Each operation's latency is timed end to end; the run history
(`engine.observability`) says how long the plugin itself ran, and the rest is engine overhead.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import BenchLoadMismatch
from .spec import TriggerSpec

if TYPE_CHECKING:
    from .engine import Engine

TRIGGER_NAME = "bench"
Progress = Callable[[int, int], None]
Timer = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class BenchLoad:
    """What to send: line protocol writes for WAL specs, calls for request and schedule specs.

    Attributes:
        writes: Line protocol, one string per write (each write is flushed before the next).
        calls: Requests (`request:`) or runs (`cron:`, `every:`) to make.
        concurrency: Threads making calls at once.
        warmup: Unmeasured operations first (the plugin's import and first call).
    """

    writes: Sequence[str] = ()
    calls: int = 0
    concurrency: int = 1
    method: str = "GET"
    query_params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    warmup: int = 1


@dataclass(frozen=True, kw_only=True)
class Percentiles:
    """Latency percentiles in milliseconds (nearest rank)."""

    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Percentiles:
        """Percentiles of durations given in seconds; all zero when there are none."""
        if not seconds:
            return cls(p50=0.0, p95=0.0, p99=0.0, max=0.0, mean=0.0)
        ordered = sorted(seconds)

        def rank(fraction: float) -> float:
            # Nearest rank: the smallest value with at least `fraction` of them at or below.
            index = min(len(ordered), max(1, math.ceil(round(fraction * len(ordered), 9)))) - 1
            return round(ordered[index] * 1000, 3)

        return cls(p50=rank(0.50), p95=rank(0.95), p99=rank(0.99),
                   max=round(ordered[-1] * 1000, 3),
                   mean=round(sum(ordered) / len(ordered) * 1000, 3))


@dataclass(frozen=True, kw_only=True)
class BenchReport:
    """What a plugin benchmark measured.

    Attributes:
        kind: `wal`, `request` or `schedule`.
        operations: Measured writes (WAL), requests or runs.
        lines: Lines written (WAL specs; 0 otherwise).
        wall_seconds: From the first measured operation to the last one's end.
        latency: Per operation, end to end (write + flush until the plugin is done; request;
            run now).
        plugin: Per plugin run, from the run history.
        busy_seconds: Sum of operation latencies (equals wall time with concurrency 1).
        plugin_seconds: Sum of plugin run durations; `overhead_seconds` is busy minus this.
        runs_sampled: The run history overflowed; plugin time is scaled from the runs kept.
        failures: Operations that failed (plugin errors, non-2xx responses, rejected lines).
    """

    kind: str
    trigger_spec: str
    plugin: Percentiles
    latency: Percentiles
    operations: int
    lines: int
    concurrency: int
    wall_seconds: float
    busy_seconds: float
    plugin_seconds: float
    runs: int
    runs_sampled: bool
    failures: int
    first_failure: str | None

    @property
    def overhead_seconds(self) -> float:
        """Time callers waited that the plugin did not account for (never below zero)."""
        return max(self.busy_seconds - self.plugin_seconds, 0.0)

    @property
    def operations_per_second(self) -> float:
        """Measured operations over wall time."""
        return self.operations / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def lines_per_second(self) -> float:
        """Lines written over wall time (WAL specs)."""
        return self.lines / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def plugin_share(self) -> float:
        """Plugin time as a fraction of busy time, 0 to 1."""
        return min(self.plugin_seconds / self.busy_seconds, 1.0) if self.busy_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values, derived figures included."""
        out = asdict(self)
        out.update(overhead_seconds=round(self.overhead_seconds, 6),
                   operations_per_second=round(self.operations_per_second, 2),
                   lines_per_second=round(self.lines_per_second, 1),
                   plugin_share=round(self.plugin_share, 4))
        return out


@dataclass
class _Timings:
    """Per-operation latencies and failures, filled from one or more threads."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lines: int = 0
    wall: float = 0.0


def run_bench(engine: Engine, plugin: str, trigger_spec: str, load: BenchLoad, *,
              database: str = "bench", trigger_arguments: Mapping[str, str] | None = None,
              progress: Progress | None = None, timer: Timer = time.perf_counter) -> BenchReport:
    """Create a trigger for `plugin` in the started `engine`, drive it with `load`, report.

    Args:
        engine: A started engine; the database is created when missing.
        plugin: The plugin file or directory, relative to the engine's plugin directory.
        trigger_spec: Any trigger specification; its kind decides the load used.
        load: Writes for WAL specs, calls for request and schedule specs.
        database: The trigger's database.
        trigger_arguments: The plugin's `args`.
        progress: Called with (done, total) operations as they complete, about 100 times.
        timer: Monotonic seconds, for latencies.

    Raises:
        BenchLoadMismatch: The load does not fit the specification's kind.
        TriggerSpecError, PluginNotFound, ...: The trigger could not be created.
    """
    spec = TriggerSpec.parse(trigger_spec)
    kind = "wal" if spec.is_wal else "request" if spec.is_request else "schedule"
    _check_load(str(spec), kind, load)
    if database not in engine.list_databases():
        engine.create_database(database)
    engine.create_trigger(database, TRIGGER_NAME, plugin_filename=plugin,
                          trigger_specification=str(spec), trigger_arguments=trigger_arguments,
                          disabled=kind == "schedule")  # runs only when the bench asks
    operation = _operation(engine, database, spec, kind, load)
    total = len(load.writes) if kind == "wal" else load.calls
    for index in range(min(load.warmup, total)):
        operation(index)
    since = engine.clock.now()
    timings = _drive(operation, total, 1 if kind == "wal" else load.concurrency, progress, timer)
    if kind == "wal":
        timings.lines = sum(_count_lines(text) for text in load.writes)
    return _report(engine, database, str(spec), kind, load, timings, since)


def _check_load(spec: str, kind: str, load: BenchLoad) -> None:
    if kind == "wal" and not load.writes:
        raise BenchLoadMismatch(spec, "no line protocol to write")
    if kind != "wal" and load.calls < 1:
        raise BenchLoadMismatch(spec, f"{load.calls} calls requested")
    if load.concurrency < 1 or load.warmup < 0:
        raise BenchLoadMismatch(spec, f"concurrency {load.concurrency} and warmup "
                                f"{load.warmup} (need concurrency >= 1, warmup >= 0)")


def _operation(engine: Engine, db: str, spec: TriggerSpec, kind: str,
               load: BenchLoad) -> Callable[[int], str | None]:
    """One unit of load, by index; returns a failure description or None."""
    if kind == "wal":
        def write(index: int) -> str | None:
            result = engine.write_lp(db, load.writes[index])
            engine.flush()
            return (f"write {index}: {len(result.errors)} lines rejected, first: "
                    f"{result.errors[0].message}") if result.errors else None
        return write
    if kind == "request":
        path = spec.path or ""

        def request(index: int) -> str | None:
            response = engine.handle_request(path, method=load.method,
                                             query_params=load.query_params,
                                             headers=load.headers, body=load.body)
            ok = 200 <= response.status < 300
            return None if ok else f"status {response.status}: {response.text[:300]}"
        return request

    def run(index: int) -> str | None:
        outcome = engine.run_trigger(db, TRIGGER_NAME)
        return None if outcome.ok else f"{outcome.status}: {outcome.error}"
    return run


def _drive(operation: Callable[[int], str | None], total: int, concurrency: int,
           progress: Progress | None, timer: Timer) -> _Timings:
    """Run operations 0..total-1 on `concurrency` threads, timing each."""
    timings = _Timings()
    counter = itertools.count()
    lock = threading.Lock()
    step = max(1, total // 100)

    def worker() -> None:
        while (index := next(counter)) < total:
            start = timer()
            failure = operation(index)
            elapsed = timer() - start
            with lock:
                timings.latencies.append(elapsed)
                if failure is not None:
                    timings.failures.append(failure)
                done = len(timings.latencies)
                if progress is not None and (done % step == 0 or done == total):
                    progress(done, total)

    began = timer()
    if concurrency == 1:
        worker()
    else:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="bench") as pool:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()
    timings.wall = timer() - began
    return timings


def _report(engine: Engine, db: str, spec: str, kind: str, load: BenchLoad, timings: _Timings,
            since: datetime) -> BenchReport:
    history = engine.observability
    runs = [r for r in history.runs_for(db, TRIGGER_NAME) if r.started >= since]
    durations = [r.duration_seconds for r in runs]
    plugin_seconds = sum(durations)
    # The history keeps the newest runs only; scale from the ones kept when it overflowed.
    sampled = len(history.runs()) >= history.max_runs and len(runs) < len(timings.latencies)
    if sampled and runs:
        plugin_seconds *= len(timings.latencies) / len(runs)
    failed_runs = [r for r in runs if r.status != "success"]
    failures = list(timings.failures)
    if kind == "wal":
        failures += [f"plugin {r.status}: {r.error}" for r in failed_runs]
    return BenchReport(
        kind=kind, trigger_spec=spec, plugin=Percentiles.of(durations),
        latency=Percentiles.of(timings.latencies), operations=len(timings.latencies),
        lines=timings.lines, concurrency=1 if kind == "wal" else load.concurrency,
        wall_seconds=round(timings.wall, 6), busy_seconds=round(sum(timings.latencies), 6),
        plugin_seconds=round(plugin_seconds, 6), runs=len(runs), runs_sampled=sampled,
        failures=len(failures), first_failure=failures[0] if failures else None,
    )


def _count_lines(text: str) -> int:
    stripped = (line.strip() for line in text.splitlines())
    return sum(1 for line in stripped if line and not line.startswith("#"))
