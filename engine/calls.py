"""What flows through a trigger's runtime: inputs, outcomes, settings, services, call state."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import InvalidStateError
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from .batches import TableBatch
from .clock import Clock
from .observability import LogEntry, Observability
from .overrun import Watch
from .runlog import REQUEST, SCHEDULE, WAL
from .workers import WorkerPool

if TYPE_CHECKING:
    from .runtime import TriggerRuntime

ENTRY_POINTS = {
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
# The longest wait between two retries, however many attempts came before.
MAX_BACKOFF_SECONDS = 300.0

# Not frozen (one is made per call, and frozen dataclasses cost three times as much to build);
# nothing changes one after it is made.
@dataclass(kw_only=True, slots=True)
class CallInput:
    """What one plugin call receives."""

    kind: str
    table_batches: list[TableBatch] | None = None
    scheduled_time: datetime | None = None
    query_parameters: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    body: bytes = b""
    # Whether the outcome carries the call's log lines; the HTTP path never reads them, and not
    # building them saves a request more than a tenth of its cost (they still reach the log).
    keep_log: bool = True

    @property
    def rows_in(self) -> int:
        """How many rows the call was handed."""
        return sum(_num_rows(b) for b in self.table_batches or ())

    @property
    def call_time(self) -> datetime | None:
        """The scheduled tick as plugins see it: naive UTC, whole seconds."""
        if self.scheduled_time is None:
            return None
        return self.scheduled_time.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _num_rows(batch: TableBatch) -> int:
    counted = getattr(batch, "num_rows", None)
    return int(counted) if isinstance(counted, int) else int(batch.to_arrow().num_rows)


@dataclass(kw_only=True, slots=True)
class CallOutcome:
    """How one plugin execution (all its attempts) ended.

    Attributes:
        status: `success`, `error` or `cancelled` (the trigger was stopped first or mid-call).
        attempts: How many times the plugin was called (more than one after retries).
        duration_seconds: Wall time of the execution, retries and back-off included.
        timed_out: The execution took longer than the trigger's `timeout` setting.
        log_entries: This execution's log lines: the framework's and the plugin's, in order.
    """

    status: str
    attempts: int = 0
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    lines_written: int = 0
    duration_seconds: float = 0.0
    timed_out: bool = False
    log_entries: list[LogEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plugin returned normally."""
        return self.status == "success"

    @property
    def log_lines(self) -> list[str]:
        """This execution's log lines as `LEVEL: message`."""
        return [f"{e.level}: {e.message}" for e in self.log_entries]


class OutcomeSink(Protocol):
    """Where a call's outcome goes: a `Future[CallOutcome]`, or anything settled the same way.

    `set_result` is called once the call ends (a second call, e.g. after `stop()` got there
    first, may raise `InvalidStateError` or be ignored); `done` says whether it was called.
    """

    def set_result(self, result: CallOutcome, /) -> None:
        """Take the outcome."""
        ...

    def done(self) -> bool:
        """Whether the outcome was taken."""
        ...


class PluginAPILike(Protocol):
    """The parts of the `influxdb3_local` object the runtime needs after a call."""

    def pending_writes(self) -> Mapping[str, list[str]]:
        """Lines written with `write`/`write_to_db`, by database."""
        ...

    @property
    def log_entries(self) -> Sequence[LogEntry]:
        """The lines the plugin logged during the call."""
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



def cancelled(error: str = "trigger stopped") -> CallOutcome:
    """The outcome of a call its trigger was stopped before or during."""
    return CallOutcome(status="cancelled", error=error)


def resolve(future: OutcomeSink, outcome: CallOutcome) -> None:
    """Settle `future` unless it already is (stop() may have resolved it first)."""
    # Not contextlib.suppress: this runs once per plugin call, and try costs nothing.
    try:  # noqa: SIM105
        future.set_result(outcome)
    except InvalidStateError:
        pass


class MissingEntryPoint(Exception):
    """The plugin lacks the function its trigger kind calls."""


def positional(call: CallInput) -> tuple[Any, ...]:
    """The arguments after `influxdb3_local` and before `args`, by kind."""
    if call.kind == WAL:
        return ([] if call.table_batches is None else call.table_batches,)
    if call.kind == SCHEDULE:
        return (call.call_time,)
    return (dict(call.query_parameters or {}), dict(call.headers or {}), call.body)


def plugin_args(arguments: Mapping[str, str] | None) -> dict[str, str] | None:
    """The `args` a plugin gets: its own copy of the trigger arguments, or None."""
    return None if arguments is None else dict(arguments)


@dataclass(slots=True)
class Run:
    """One execution in progress: its input, timing and the log lines it produced."""

    call: CallInput
    started: datetime
    t0: int
    paused_at: int = 0
    entries: list[LogEntry] | None = field(default_factory=list)
    disable_reason: str | None = None
    watch: Watch | None = None


@dataclass(slots=True)
class Attempt:
    """How one call of the plugin went: its `influxdb3_local`, return value or exception."""

    api: PluginAPILike | None
    value: Any
    error: BaseException | None
    elapsed_ns: int


@dataclass(slots=True)
class Prepared:
    """An attempt's inputs, made before it starts: entry point, `influxdb3_local`, arguments."""

    function: Callable[..., Any] | None
    api: PluginAPILike | None
    failed: BaseException | None
    start_message: str
    args: tuple[Any, ...]
    run: Run | None = None  # made ahead for a claimed call, started at its tick


@dataclass(slots=True)
class Claim:
    """A call taken by a tick batch (see `claiming`) instead of the trigger's own queue."""

    runtime: TriggerRuntime
    call: CallInput
    future: OutcomeSink
    prepared: Prepared | None = None
    run: Run | None = None
    attempt: Attempt | None = None


class _ClaimsLocal(threading.local):
    # A class default, so threads that never claimed read None without a failed lookup: every
    # queued call asks.
    items: list[Claim] | None = None


_claims = _ClaimsLocal()


@contextlib.contextmanager
def claiming() -> Iterator[list[Claim]]:
    """Collect, instead of queueing, the pooled calls submitted by this thread in the block.

    The scheduler fires every tick due at one instant inside this block and hands the claims to
    a `TickBatch`, which runs them back to back (no thread hand-off per call).
    """
    claims: list[Claim] = []
    previous = _claims.items
    _claims.items = claims
    try:
        yield claims
    finally:
        _claims.items = previous


def claims_in_progress() -> list[Claim] | None:
    """The list `claiming()` collects into in this thread, or None outside the block."""
    return _claims.items
