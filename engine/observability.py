"""What the engine did: the bounded plugin log and the run history behind the system tables."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

# Under `engine`, so a host that configures the `engine` logger sees plugin activity too.
logger = logging.getLogger("engine.plugins")

LEVELS = {"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}
DEFAULT_MAX_LOGS = 10_000
DEFAULT_MAX_RUNS = 10_000


# Not frozen: these are made for every plugin call, and frozen dataclasses cost three times as
# much to build. Treat them as read-only all the same.
@dataclass(kw_only=True, slots=True)
class LogEntry:
    """One line of a trigger's log (read-only)."""

    time: datetime
    database: str
    trigger_name: str
    level: str
    message: str
    traceback: str | None = None


@dataclass(kw_only=True, slots=True)
class RunRecord:
    """One execution of a plugin (all its attempts), as `system.processing_engine_runs` shows it.

    Attributes:
        kind: `wal`, `schedule` or `request`.
        scheduled_time: The tick a schedule run was for (aware UTC); None for other kinds.
        started: When the first attempt started, by the engine's clock.
        duration_seconds: Wall time spent running, retries and their back-off included.
        status: `success`, `error` or `cancelled` (the trigger was stopped mid-call).
        timed_out: The run took longer than the trigger's `timeout` setting.
    """

    database: str
    trigger_name: str
    kind: str
    scheduled_time: datetime | None
    started: datetime
    duration_seconds: float
    status: str
    attempts: int
    rows_in: int
    lines_written: int
    error: str | None = None
    traceback: str | None = None
    timed_out: bool = False


_LogRow = tuple[datetime, str, str, str, str, str | None]
_RunRow = tuple[str, str, str, datetime | None, datetime, float, str, int, int, int,
                str | None, str | None, bool]


class Observability:
    """Bounded, thread-safe buffers of log lines and runs; also forwards logs to `logging`.

    The oldest entries fall out once a buffer is full, as on InfluxDB 3 (10,000 log lines).
    Entries are kept as plain tuples of strings, numbers and datetimes: the garbage collector
    stops tracking such tuples, so full buffers do not make every collection walk them.
    """

    def __init__(self, *, max_logs: int = DEFAULT_MAX_LOGS, max_runs: int = DEFAULT_MAX_RUNS,
                 forward: bool = True) -> None:
        """Make empty buffers.

        Args:
            max_logs: Log lines kept.
            max_runs: Runs kept.
            forward: Also hand log lines to Python's logging (False for dry runs).
        """
        if max_logs < 1 or max_runs < 1:
            raise ValueError(f"buffer sizes must be at least 1, got max_logs={max_logs}, "
                             f"max_runs={max_runs}")
        # Subclasses that append LogEntry objects themselves are still read correctly.
        self._logs: deque[_LogRow | LogEntry] = deque(maxlen=max_logs)
        self._runs: deque[_RunRow] = deque(maxlen=max_runs)
        self._lock = threading.Lock()
        self._forward = forward
        # A subclass that redefines log() gets every line through it, also from line().
        self._plain = type(self).log is Observability.log

    @property
    def max_logs(self) -> int:
        """How many log lines are kept."""
        return self._logs.maxlen or 0

    @property
    def max_runs(self) -> int:
        """How many runs are kept."""
        return self._runs.maxlen or 0

    def log(self, entry: LogEntry) -> None:
        """Record a log line and hand it to Python's logging under `engine.plugins`."""
        row = (entry.time, entry.database, entry.trigger_name, entry.level, entry.message,
               entry.traceback)
        with self._lock:
            self._logs.append(row)
        if self._forward:
            level = LEVELS.get(entry.level, logging.INFO)
            if logger.isEnabledFor(level):
                _forward(level, entry)

    def line(self, time: datetime, database: str, trigger_name: str, level: str,
             message: str) -> None:
        """Like `log(LogEntry(...))` without building the entry unless logging wants it.

        The runtime writes a start line for each of a thousand ticks in a row with this.
        """
        if not self._plain:
            self.log(LogEntry(time=time, database=database, trigger_name=trigger_name,
                              level=level, message=message))
            return
        with self._lock:
            self._logs.append((time, database, trigger_name, level, message, None))
        if self._forward:
            python_level = LEVELS.get(level, logging.INFO)
            if logger.isEnabledFor(python_level):
                _forward(python_level, LogEntry(time=time, database=database,
                                                trigger_name=trigger_name, level=level,
                                                message=message))

    def record_run(self, run: RunRecord) -> None:
        """Record one finished plugin execution."""
        row = (run.database, run.trigger_name, run.kind, run.scheduled_time, run.started,
               run.duration_seconds, run.status, run.attempts, run.rows_in, run.lines_written,
               run.error, run.traceback, run.timed_out)
        with self._lock:
            self._runs.append(row)

    def logs(self) -> list[LogEntry]:
        """A snapshot of the log buffer, oldest first."""
        with self._lock:
            rows = list(self._logs)
        return [r if isinstance(r, LogEntry) else
                LogEntry(time=r[0], database=r[1], trigger_name=r[2], level=r[3], message=r[4],
                         traceback=r[5]) for r in rows]

    def runs(self) -> list[RunRecord]:
        """A snapshot of the run history, oldest first."""
        with self._lock:
            rows = list(self._runs)
        return [RunRecord(database=r[0], trigger_name=r[1], kind=r[2], scheduled_time=r[3],
                          started=r[4], duration_seconds=r[5], status=r[6], attempts=r[7],
                          rows_in=r[8], lines_written=r[9], error=r[10], traceback=r[11],
                          timed_out=r[12]) for r in rows]

    def logs_for(self, database: str, trigger_name: str) -> Iterator[LogEntry]:
        """Log lines of one trigger, oldest first."""
        return (e for e in self.logs() if e.database == database and e.trigger_name == trigger_name)

    def runs_for(self, database: str, trigger_name: str) -> list[RunRecord]:
        """Runs of one trigger, oldest first."""
        return [r for r in self.runs() if r.database == database and r.trigger_name == trigger_name]


def _forward(level: int, entry: LogEntry) -> None:
    if entry.traceback:
        logger.log(level, "[%s/%s] %s\n%s", entry.database, entry.trigger_name, entry.message,
                   entry.traceback.rstrip("\n"))
    else:
        logger.log(level, "[%s/%s] %s", entry.database, entry.trigger_name, entry.message)
