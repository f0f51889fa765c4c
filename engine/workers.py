"""The bounded, elastic pool of daemon threads that plugin calls run on."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerPool:
    """Runs callables on daemon threads, started on demand up to `max_workers`.

    Daemon threads, unlike `ThreadPoolExecutor`'s, never hold up the host's exit: a plugin that
    blocks forever costs one thread, not the process. Idle threads exit after `idle_seconds`.
    """

    def __init__(
        self, max_workers: int = 32, *, idle_seconds: float = 30.0, name: str = "engine-plugin"
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._max = max_workers
        self._idle_seconds = idle_seconds
        self._name = name
        self._tasks: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._closed = False
        self._serial = 0

    @property
    def busy(self) -> int:
        """Threads currently running a task."""
        return self._busy

    @property
    def threads(self) -> int:
        """Threads alive in the pool."""
        return self._threads

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn` and return a future of its result."""
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._tasks.append((fn, future))
            # An idle thread counts as idle until it wakes, so compare with the queue: each
            # queued task needs a thread of its own, or it waits behind a busy one.
            if len(self._tasks) > self._idle and self._threads < self._max:
                self._spawn()
            else:
                self._cond.notify()
        return future

    def _spawn(self) -> None:
        self._threads += 1
        self._serial += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._serial}", daemon=True
        )
        thread.start()

    def _next_task(self) -> tuple[Callable[[], Any], Future[Any]] | None:
        """The next task, or None when this thread retires (counted out under the lock, so a
        submit never counts on a thread that is leaving)."""
        with self._cond:
            while not self._tasks:
                if self._closed:
                    self._threads -= 1
                    return None
                self._idle += 1
                woke = self._cond.wait(self._idle_seconds)
                self._idle -= 1
                if not woke and not self._tasks:
                    self._threads -= 1
                    return None
            self._busy += 1
            return self._tasks.popleft()

    def _work(self) -> None:
        retired = False
        try:
            while (task := self._next_task()) is not None:
                fn, future = task
                try:
                    if future.set_running_or_notify_cancel():
                        _run_into(fn, future)
                finally:
                    with self._cond:
                        self._busy -= 1
            retired = True
        finally:
            if not retired:  # only if something broke outside the task itself
                with self._cond:
                    self._threads -= 1

    def shutdown(self) -> None:
        """Stop taking tasks; idle threads exit, running ones finish on their own."""
        with self._cond:
            self._closed = True
            for _, future in self._tasks:
                future.cancel()
            self._tasks.clear()
            self._cond.notify_all()


def _run_into(fn: Callable[[], Any], future: Future[Any]) -> None:
    try:
        result = fn()
    except BaseException as exc:  # a plugin may raise SystemExit or KeyboardInterrupt
        future.set_exception(exc)
    else:
        future.set_result(result)
