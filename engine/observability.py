"""What the engine did: the bounded plugin log and the run history behind the system tables."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger("engine.plugins")

_LEVELS = {"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


@dataclass(frozen=True, kw_only=True, slots=True)
class LogEntry:
    """One line of a trigger's log."""

    time: datetime
    database: str
    trigger_name: str
    level: str
    message: str
    traceback: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One execution of a plugin, as shown by `system.processing_engine_runs`."""

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
    timed_out: bool = False


class Observability:
    """Bounded, thread-safe buffers of log lines and runs; also forwards logs to `logging`."""

    def __init__(self, *, max_logs: int = 10_000, max_runs: int = 10_000) -> None:
        self._logs: deque[LogEntry] = deque(maxlen=max_logs)
        self._runs: deque[RunRecord] = deque(maxlen=max_runs)
        self._lock = threading.Lock()

    def log(self, entry: LogEntry) -> None:
        """Record a log line and hand it to Python's logging under `engine.plugins`."""
        with self._lock:
            self._logs.append(entry)
        level = _LEVELS.get(entry.level, logging.INFO)
        if logger.isEnabledFor(level):
            logger.log(level, "[%s/%s] %s", entry.database, entry.trigger_name, entry.message)

    def record_run(self, run: RunRecord) -> None:
        """Record one finished plugin execution."""
        with self._lock:
            self._runs.append(run)

    def logs(self) -> list[LogEntry]:
        """A snapshot of the log buffer, oldest first."""
        with self._lock:
            return list(self._logs)

    def runs(self) -> list[RunRecord]:
        """A snapshot of the run history, oldest first."""
        with self._lock:
            return list(self._runs)

    def logs_for(self, database: str, trigger_name: str) -> Iterator[LogEntry]:
        """Log lines of one trigger, oldest first."""
        return (e for e in self.logs() if e.database == database and e.trigger_name == trigger_name)
