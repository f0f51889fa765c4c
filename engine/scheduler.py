"""When schedule triggers fire: next ticks from the injected clock, catch-up policy, no overlap."""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from .clock import Clock, SystemClock
from .runtime import claiming
from .tick_batch import COLLECTOR_PAUSE, PREPARING, TickBatch, dispatch_claims

logger = logging.getLogger(__name__)

CATCH_UP_POLICIES = ("all", "latest", "skip")
# A tick later than this is "missed" for the `skip` policy.
SKIP_GRACE = timedelta(seconds=1)
# Bound on the ticks one catch-up computes, so a tiny interval after a long pause cannot hang us.
MAX_CATCH_UP = 100_000
# The loop looks at the clock at least this often, so a jump of the clock is noticed.
MAX_IDLE_SECONDS = 1.0
# How often a batch whose calls are held up by a slow plugin is checked for a helper thread.
ASSIST_SECONDS = 0.002
# On the real clock the loop wakes this much before a tick to prepare its calls (loading entry
# points, building `influxdb3_local`); the lead then follows twice the time preparing took.
DEFAULT_LEAD_SECONDS = 0.1
MIN_LEAD_SECONDS = 0.01
MAX_LEAD_SECONDS = 0.5


class Schedule(Protocol):
    """Anything with `next_after`, such as a cron or every: `TriggerSpec`."""

    def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
        """The first fire time strictly after `dt`, or None when there is none."""
        ...


FireCallback = Callable[[str, datetime], "Future[Any] | None"]


@dataclass(kw_only=True, eq=False)
class _Entry:
    key: str
    schedule: Schedule
    tz: tzinfo | None
    catch_up: str
    wait_for_run: bool
    next_tick: datetime | None
    order: int = 0
    busy: bool = False
    queued: bool = False
    removed: bool = False
    # Made once per entry, not per tick: a thousand triggers a second would otherwise give the
    # garbage collector a thousand closures a second to track.
    on_done: Callable[[Future[Any]], None] | None = None


class Scheduler:
    """Fires due ticks through a callback; a thread drives it, or `run_due()` does in tests.

    Ticks of different triggers due at the same instant are fired together: their calls are
    claimed by one `TickBatch` instead of each waking a pool thread. A synchronous trigger
    (`wait_for_run`) gets no tick while its previous run is in progress; the ticks it missed
    then run as its `catch_up` policy says.
    """

    def __init__(self, clock: Clock, fire: FireCallback, *,
                 lead_seconds: float | None = None) -> None:
        self._clock = clock
        self._fire = fire
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[datetime, int, _Entry]] = []
        self._serial = itertools.count()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batches: list[TickBatch] = []
        if lead_seconds is None:
            lead_seconds = DEFAULT_LEAD_SECONDS if isinstance(clock, SystemClock) else 0.0
        self.lead_seconds = lead_seconds

    def add(self, key: str, schedule: Schedule, *, tz: tzinfo | None = None,
            catch_up: str = "all", wait_for_run: bool = True,
            after: datetime | None = None) -> datetime | None:
        """Start scheduling `key` (replacing it); returns its first tick (None if none)."""
        if catch_up not in CATCH_UP_POLICIES:
            raise ValueError(f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, "
                             f"got {catch_up!r}")
        start = after or self._clock.now()
        entry = _Entry(key=key, schedule=schedule, tz=tz, catch_up=catch_up,
                       wait_for_run=wait_for_run, next_tick=_next(schedule, start, tz),
                       order=next(self._serial))
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                previous.removed = True
            self._entries[key] = entry
            self._push(entry)
        self._wake.set()
        return entry.next_tick

    def remove(self, key: str) -> None:
        """Stop scheduling `key` (a run in progress is not interrupted)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                entry.removed = True

    def next_tick(self, key: str) -> datetime | None:
        """The next tick of `key`, or None."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.next_tick if entry else None

    def run_due(self, now: datetime | None = None) -> int:
        """Fire every tick due at `now` (default the clock's time), oldest first.

        Returns:
            How many ticks fired (skipped ones are not counted).
        """
        fired = 0
        while True:
            group = self._take_group(now or self._clock.now(), None)
            if not group:
                return fired
            fired += self._fire_group(group, None)

    # --- taking due ticks --------------------------------------------------------------------

    def _push(self, entry: _Entry) -> None:
        """Put `entry` in the heap at its next tick (caller holds the lock)."""
        if entry.next_tick is None or entry.queued or entry.removed or entry.busy:
            return
        entry.queued = True
        # Ties go to the trigger scheduled first, so equal ticks always fire in the same order.
        heapq.heappush(self._heap, (entry.next_tick, entry.order, entry))

    def _head(self) -> datetime | None:
        """The earliest queued tick (caller holds the lock)."""
        heap = self._heap
        while heap and heap[0][2].removed:
            heapq.heappop(heap)[2].queued = False
        return heap[0][0] if heap else None

    def _take_group(self, now: datetime, ahead: datetime | None) -> list[tuple[_Entry, datetime]]:
        """Pop every entry whose tick is the earliest one, if it is due by `now` (or `ahead`)."""
        with self._lock:
            head = self._head()
            if head is None or head > (ahead or now):
                return []
            group = []
            while self._heap and self._heap[0][0] == head:
                _, _, entry = heapq.heappop(self._heap)
                entry.queued = False
                if not entry.removed:
                    group.append((entry, self._choose_tick(entry, now)))
            return group

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

    # --- firing ------------------------------------------------------------------------------

    def _fire_group(self, group: list[tuple[_Entry, datetime]], start_at: datetime | None) -> int:
        began = self._clock.now()
        # Firing a thousand ticks allocates enough to set off a full collection; while it runs
        # ahead of a tick, the collector waits (the batches keep it waiting until their calls
        # are started).
        COLLECTOR_PAUSE.hold()
        try:
            return self._fire_claimed(group, start_at, began)
        finally:
            COLLECTOR_PAUSE.release()

    def _fire_claimed(self, group: list[tuple[_Entry, datetime]], start_at: datetime | None,
                      began: datetime) -> int:
        fired = 0
        with claiming() as claims:
            for entry, tick in group:
                if tick is _SKIPPED:
                    logger.info("schedule %s: skipped missed ticks (catch_up=skip)", entry.key)
                    self._after_fire(entry, None)
                    continue
                fired += 1
                self._after_fire(entry, self._fire_one(entry, tick))
        if claims:
            batches = dispatch_claims(claims, self._clock, start_at=start_at, began=began,
                                      stopping=self._stop)
            with self._lock:
                self._batches.extend(batches)
            self._wake.set()
        return fired

    def _fire_one(self, entry: _Entry, tick: datetime) -> Future[Any] | None:
        try:
            return self._fire(entry.key, tick)
        except Exception:
            logger.exception("schedule %s: firing the tick %s failed", entry.key, tick)
            return None

    def _after_fire(self, entry: _Entry, future: Future[Any] | None) -> None:
        with self._lock:
            if future is None or not entry.wait_for_run or future.done():
                self._push(entry)
                return
            entry.busy = True
        if entry.on_done is None:
            entry.on_done = functools.partial(self._released, entry)
        future.add_done_callback(entry.on_done)

    def _released(self, entry: _Entry, _future: Future[Any]) -> None:
        self._release(entry)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            head = self._head()
            entry.busy = False
            self._push(entry)
            # The loop sleeps until the earliest tick; only an earlier one needs to wake it.
            wake = entry.next_tick is not None and (head is None or entry.next_tick < head)
        if wake:
            self._wake.set()

    # --- the background loop -----------------------------------------------------------------

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
            self._wake.clear()
            try:
                wait = self._step()
            except Exception:
                logger.exception("scheduler loop failed; continuing")
                wait = 0.1
            if wait > 0:
                self._wake.wait(wait)

    def _step(self) -> float:
        """Fire what is due (or about to be); returns how long to sleep before looking again."""
        now = self._clock.now()
        watch = self._assist(now)
        with self._lock:
            head = self._head()
        if head is None:
            return watch
        delay = (head - now).total_seconds()
        if delay <= 0:
            self._fire_group(self._take_group(now, None), None)
            return 0.0
        if delay <= self.lead_seconds:
            self._fire_group(self._take_group(now, head), head)
            return 0.0
        return min(delay - self.lead_seconds, watch)

    def _assist(self, now: datetime) -> float:
        """Help batches held up by slow plugins; returns when they next need looking at."""
        wait = MAX_IDLE_SECONDS
        with self._lock:
            batches = self._batches
            for batch in batches:
                batch.assist()
                if batch.preparing_seconds is not None and self.lead_seconds:
                    self._adapt_lead(batch.preparing_seconds)
                    batch.preparing_seconds = None
                if batch.phase == PREPARING and batch.start_at is not None:
                    # Nothing to help with before the batch's tick.
                    until = (batch.start_at - now).total_seconds()
                    wait = min(wait, max(until, ASSIST_SECONDS))
                else:
                    wait = ASSIST_SECONDS
            self._batches = [b for b in batches if not b.finished]
            return wait if self._batches else MAX_IDLE_SECONDS

    def _adapt_lead(self, needed: float) -> None:
        """Grow the lead at once when preparing took long; shrink it slowly when it did not."""
        target = min(MAX_LEAD_SECONDS, max(MIN_LEAD_SECONDS, 2 * needed))
        lead = self.lead_seconds
        self.lead_seconds = target if target > lead else 0.8 * lead + 0.2 * target


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
