"""Handing results from other threads back to an event loop, one wake-up per batch."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopInbox:
    """Lets coroutines on one event loop await values that other threads produce.

    `asyncio.wrap_future` and `call_soon_threadsafe` wake the loop once per value. Under load,
    plugin threads finish many calls while the loop is busy; here the first value of a batch
    schedules one delivery and the values that follow join it, so the loop wakes once for all.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._arrived: deque[tuple[asyncio.Future[Any], Any]] = deque()
        self._scheduled = False

    def expect(self) -> tuple[asyncio.Future[_T], Callable[[_T], None]]:
        """A future on this inbox's loop (call it on the loop), and the function, callable
        from any thread, that settles it with a value."""
        waiter: asyncio.Future[_T] = self.loop.create_future()

        def deliver(value: _T) -> None:
            self._put(waiter, value)

        return waiter, deliver

    def _put(self, waiter: asyncio.Future[Any], value: Any) -> None:
        with self._lock:
            self._arrived.append((waiter, value))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody is left to wait for the value
            with self._lock:
                self._arrived.clear()
                self._scheduled = False

    def _deliver(self) -> None:
        with self._lock:
            batch = list(self._arrived)
            self._arrived.clear()
            self._scheduled = False
        for waiter, value in batch:
            if not waiter.done():
                waiter.set_result(value)
