"""When schedule triggers fire: next ticks from the injected clock, catch-up policy, no overlap."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from .clock import Clock

logger = logging.getLogger(__name__)

CATCH_UP_POLICIES = ("all", "latest", "skip")
# A tick later than this is "missed" for the `skip` policy.
SKIP_GRACE = timedelta(seconds=1)
# Bound on the ticks one catch-up computes, so a tiny interval after a long pause cannot hang us.
MAX_CATCH_UP = 100_000


class Schedule(Protocol):
    """Anything with `next_after`, such as a cron or every: `TriggerSpec`."""

    def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
        """The first fire time strictly after `dt`, or None when there is none."""
        ...


FireCallback = Callable[[str, datetime], "Future[Any] | None"]


@dataclass(kw_only=True)
class _Entry:
    key: str
    schedule: Schedule
    tz: tzinfo | None
    catch_up: str
    wait_for_run: bool
    next_tick: datetime | None
    busy: bool = False


class Scheduler:
    """Fires due ticks through a callback; a thread drives it, or `run_due()` does in tests."""

    def __init__(self, clock: Clock, fire: FireCallback) -> None:
        self._clock = clock
        self._fire = fire
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: str, schedule: Schedule, *, tz: tzinfo | None = None,
            catch_up: str = "all", wait_for_run: bool = True,
            after: datetime | None = None) -> datetime | None:
        """Start scheduling `key`; returns its first tick (None if the schedule has none)."""
        if catch_up not in CATCH_UP_POLICIES:
            raise ValueError(f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, "
                             f"got {catch_up!r}")
        start = after or self._clock.now()
        entry = _Entry(key=key, schedule=schedule, tz=tz, catch_up=catch_up,
                       wait_for_run=wait_for_run, next_tick=_next(schedule, start, tz))
        with self._lock:
            self._entries[key] = entry
        self._wake.set()
        return entry.next_tick

    def remove(self, key: str) -> None:
        """Stop scheduling `key` (a run in progress is not interrupted)."""
        with self._lock:
            self._entries.pop(key, None)

    def next_tick(self, key: str) -> datetime | None:
        """The next tick of `key`, or None."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.next_tick if entry else None

    def run_due(self, now: datetime | None = None) -> int:
        """Fire every tick due at `now` (default the clock's time); returns how many fired."""
        fired = 0
        while True:
            now_ = now or self._clock.now()
            step = self._take_due(now_)
            if step is None:
                return fired
            entry, tick = step
            fired += 1
            self._fire_entry(entry, tick)

    def _take_due(self, now: datetime) -> tuple[_Entry, datetime] | None:
        with self._lock:
            due = [e for e in self._entries.values()
                   if not e.busy and e.next_tick is not None and e.next_tick <= now]
            if not due:
                return None
            entry = min(due, key=lambda e: e.next_tick or now)
            return entry, self._choose_tick(entry, now)

    def _choose_tick(self, entry: _Entry, now: datetime) -> datetime:
        """Pick the tick to run and move `next_tick` on, as the catch-up policy says."""
        tick = entry.next_tick
        assert tick is not None
        if entry.catch_up != "all":
            tick = _latest_due(entry, tick, now)
        entry.next_tick = _next(entry.schedule, tick, entry.tz)
        if entry.catch_up == "skip" and now - tick > SKIP_GRACE:
            return _SKIPPED
        return tick

    def _fire_entry(self, entry: _Entry, tick: datetime) -> None:
        if tick is _SKIPPED:
            logger.info("schedule %s: skipped missed ticks (catch_up=skip)", entry.key)
            return
        try:
            future = self._fire(entry.key, tick)
        except Exception:
            logger.exception("schedule %s: firing the tick %s failed", entry.key, tick)
            return
        if future is None or not entry.wait_for_run or future.done():
            return
        with self._lock:
            entry.busy = True
        future.add_done_callback(lambda _f: self._release(entry))

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.busy = False
        self._wake.set()

    def start(self) -> None:
        """Run the scheduling loop on a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="engine-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for its thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:
                logger.exception("scheduler loop failed; continuing")
            self._wake.wait(self._sleep_seconds())
            self._wake.clear()

    def _sleep_seconds(self) -> float:
        with self._lock:
            ticks = [e.next_tick for e in self._entries.values()
                     if e.next_tick is not None and not e.busy]
        if not ticks:
            return 1.0
        delay = (min(ticks) - self._clock.now()).total_seconds()
        # Sleep a little less than needed and finish with a short wait, for tight lateness.
        return max(0.0, min(delay, 1.0))


_SKIPPED = datetime.min


def _next(schedule: Schedule, after: datetime, tz: tzinfo | None) -> datetime | None:
    try:
        return schedule.next_after(after, tz) if tz is not None else schedule.next_after(after)
    except (ValueError, StopIteration) as exc:
        logger.info("schedule has no tick after %s: %s", after, exc)
        return None


def _latest_due(entry: _Entry, tick: datetime, now: datetime) -> datetime:
    for _ in range(MAX_CATCH_UP):
        following = _next(entry.schedule, tick, entry.tz)
        if following is None or following > now:
            return tick
        tick = following
    return tick
