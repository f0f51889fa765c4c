"""Schedule ticks due at one instant, run back to back so a thousand triggers start on time."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from .clock import Clock
from .runtime import Claim
from .workers import WorkerPool

logger = logging.getLogger(__name__)

# Before the tick: loading entry points and building `influxdb3_local`; at the tick: the calls;
# after them: write-backs, log lines, run records (so none of that delays a later call).
PREPARING, CALLING, CANCELLED = "preparing", "calling", "cancelled"
# A batch whose last call started this long ago is held up by that call: a helper joins. Long
# enough that a thread merely waiting for its turn on a busy CPU does not count.
STALL_SECONDS = 0.01


class _CollectorPause:
    """Keeps Python's cyclic garbage collector off while batches start their calls.

    A full collection of a big heap stops every thread for tens of milliseconds; while a batch
    prepares or starts its calls it would make every call behind it late. Collection is only
    deferred: it is back on as soon as no batch is preparing or starting calls (at most the
    scheduler's lead plus the calls themselves), and a batch held up by a slow call gives up
    its pause (see `TickBatch.assist`), so a hung plugin never keeps it off.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._restore = False

    def hold(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._restore = gc.isenabled()
                gc.disable()
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._restore:
                gc.enable()


COLLECTOR_PAUSE = _CollectorPause()


class TickBatch:
    """Claimed calls run by one pool thread, with helpers added when a plugin holds it up.

    A call that does not return holds up only its own thread: `assist()` (called by the
    scheduler every few milliseconds) adds a thread whenever no call has started for
    `STALL_SECONDS`, so the calls behind a slow plugin are at most about that late.
    """

    def __init__(self, claims: Sequence[Claim], pool: WorkerPool, clock: Clock, *,
                 start_at: datetime | None = None, began: datetime | None = None,
                 stopping: threading.Event | None = None) -> None:
        self._began = began or clock.now()
        self._claims = list(claims)
        self._size = len(self._claims)
        self._pending: deque[Claim] = deque()
        self._done: deque[Claim] = deque()
        self._pool = pool
        self._clock = clock
        self.start_at = start_at
        self._stopping = stopping or threading.Event()
        self.phase = PREPARING
        self._last_start = 0.0
        self.helpers = 0
        self.preparing_seconds: float | None = None
        self._pause_lock = threading.Lock()
        self._paused = False
        # Held from here, in the thread that fired the ticks, so no collection slips in
        # between firing and preparing.
        self._pause_collector()

    def __len__(self) -> int:
        return self._size

    @property
    def calling(self) -> bool:
        """True while calls remain that no thread has started."""
        return self.phase == CALLING and bool(self._pending)

    @property
    def finished(self) -> bool:
        """True once every call was started (or the batch was cancelled)."""
        return self.phase == CANCELLED or (self.phase == CALLING and not self._pending)

    def dispatch(self) -> None:
        """Hand the batch to a pool thread (its calls are cancelled if the pool is shut down)."""
        try:
            self._pool.submit(self._first)
        except RuntimeError:  # the engine is stopping
            self._resume_collector()
            self._cancel()

    def _first(self) -> None:
        try:
            for claim in self._claims:
                claim.runtime.prepare_claim(claim)
            self.preparing_seconds = (self._clock.now() - self._began).total_seconds()
            go = self._wait_for_tick()
        except Exception:  # run the calls unprepared rather than strand them
            logger.exception("preparing a tick batch failed")
            go = True
        if not go:
            self._resume_collector()
            self._cancel()
            return
        self._pending.extend(self._claims)
        # From here the deques hold the claims; a finished batch must not keep a thousand of
        # them alive (an idle pool thread may hold on to its last task for a while).
        self._claims = []
        self._last_start = time.perf_counter()
        self.phase = CALLING
        self._work()

    def _pause_collector(self) -> None:
        with self._pause_lock:
            if not self._paused:
                self._paused = True
                COLLECTOR_PAUSE.hold()

    def _resume_collector(self) -> None:
        with self._pause_lock:
            if self._paused:
                self._paused = False
                COLLECTOR_PAUSE.release()

    def _wait_for_tick(self) -> bool:
        """Wait until the tick; False when the scheduler stopped first."""
        start_at = self.start_at
        if start_at is None:
            return True
        while not self._stopping.is_set():
            remaining = (start_at - self._clock.now()).total_seconds()
            if remaining <= 0:
                return True
            self._stopping.wait(min(remaining, 0.05))
        return False

    def _cancel(self) -> None:
        """Settle every claim as cancelled: none of them was called."""
        self.phase = CANCELLED
        claims, self._claims = self._claims, []
        for claim in claims:
            claim.prepared = None
            try:
                claim.runtime.settle_claim(claim)
            except Exception:
                logger.exception("cancelling the call of %s failed", claim.runtime.config.name)

    def _work(self) -> None:
        pending, done = self._pending, self._done
        while True:
            try:
                claim = pending.popleft()
            except IndexError:
                break
            self._last_start = time.perf_counter()
            claim.runtime.invoke_claim(claim)
            done.append(claim)
        self._resume_collector()
        # Settle whatever any thread has called; the thread whose call ends last settles it.
        while True:
            try:
                claim = done.popleft()
            except IndexError:
                return
            try:
                claim.runtime.settle_claim(claim)
            except Exception:  # one broken bookkeeping step must not strand the others
                logger.exception("settling the call of %s failed", claim.runtime.config.name)

    def assist(self) -> bool:
        """Add a thread if calls are waiting and none started for `STALL_SECONDS`."""
        if not self.calling or time.perf_counter() - self._last_start < STALL_SECONDS:
            return False
        self._resume_collector()  # a slow call is not worth holding collection off for
        self._last_start = time.perf_counter()  # the helper's first call counts from now
        self.helpers += 1
        try:
            self._pool.submit(self._work)
        except RuntimeError:  # the pool is shut down: the engine is stopping
            return False
        return True


def dispatch_claims(claims: Sequence[Claim], clock: Clock, *, start_at: datetime | None = None,
                    began: datetime | None = None,
                    stopping: threading.Event | None = None) -> list[TickBatch]:
    """Start one batch per worker pool for `claims` (in practice there is one pool).

    Args:
        claims: Calls claimed while firing ticks.
        clock: The engine's clock.
        start_at: Do not call plugins before this instant (the tick; None: at once).
        began: When firing the ticks began, for `TickBatch.preparing_seconds`.
        stopping: Set when the scheduler stops, to end a wait for the tick.
    """
    by_pool: dict[int, tuple[WorkerPool, list[Claim]]] = {}
    for claim in claims:
        pool = claim.runtime.pool
        if pool is None:  # claims are only taken for pooled runtimes; run it here regardless
            claim.runtime.prepare_claim(claim)
            claim.runtime.invoke_claim(claim)
            claim.runtime.settle_claim(claim)
            continue
        by_pool.setdefault(id(pool), (pool, []))[1].append(claim)
    batches = [TickBatch(items, pool, clock, start_at=start_at, began=began, stopping=stopping)
               for pool, items in by_pool.values()]
    for batch in batches:
        batch.dispatch()
    return batches
