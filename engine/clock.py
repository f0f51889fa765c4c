"""Time sources: the only module that reads the wall clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the engine gets the time from; inject one to control time in tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """The process's monotonic clock."""
        return time.monotonic()

    def now_ns(self) -> int:
        """The current wall-clock time as integer nanoseconds since the epoch."""
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to, for deterministic tests."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The clock's current time."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Seconds advanced since the clock was made."""
        with self._lock:
            return self._mono

    def now_ns(self) -> int:
        """The clock's current time as integer nanoseconds since the epoch."""
        now = self.now()
        return int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move time forward and return the new time."""
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go backwards (asked to advance by {delta})")
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to a later point in time."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.advance(when.astimezone(UTC) - self.now())


def now_ns(clock: Clock) -> int:
    """Integer nanoseconds since the epoch for any clock."""
    reader = getattr(clock, "now_ns", None)
    if reader is not None:
        return int(reader())
    now = clock.now()
    return int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
