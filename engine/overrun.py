"""Soft timeouts: one thread that warns about plugin calls still running past their limit."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Watch:
    """One watched call; `done()` once it ends so no warning comes after."""

    __slots__ = ("active", "warn")

    def __init__(self, warn: Callable[[], None]) -> None:
        self.warn = warn
        self.active = True

    def done(self) -> None:
        """The call ended."""
        self.active = False


class OverrunWatch:
    """Calls `warn` for every watched call still active at its deadline.

    The thread starts with the first watch and sleeps until the earliest deadline, so triggers
    without a `timeout` cost nothing. Deadlines are measured on the monotonic clock: they are
    durations of real work, like the run history's.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._serial = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, warn: Callable[[], None]) -> Watch:
        """Warn through `warn` if the call is still running after `seconds`."""
        item = Watch(warn)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._serial), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="engine-overrun",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return item

    def _loop(self) -> None:
        while True:
            due = self._next_due()
            if due.active:
                try:
                    due.warn()
                except Exception:  # a warning must never take the watcher down
                    logger.exception("reporting an overrunning plugin call failed")

    def _next_due(self) -> Watch:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(delay)


# One watcher for the process: overruns are rare, a thread per engine would be waste.
OVERRUNS = OverrunWatch()
