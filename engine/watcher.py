"""Plugin directory watching: watchdog events, debounced into batches of changed paths."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from .clock import Clock, SystemClock
from .errors import WatcherUnavailable

logger = logging.getLogger(__name__)

# Events that mean "this path may now hold different content". A file's Modified events are
# left out where the backend reports Closed (inotify): Modified fires on truncation, before the
# new content is complete. A move counts for both ends: vim moves the plugin away, then back.
_FILE_EVENTS = frozenset({"closed", "created", "moved", "deleted"})
_DIR_EVENTS = frozenset({"moved", "deleted"})


def _load_observer_class() -> Any:
    """Import watchdog only when watching starts, so the rest of the engine runs without it."""
    try:
        from watchdog.observers import Observer
    except ImportError as exc:
        raise WatcherUnavailable(f"the 'watchdog' package cannot be imported ({exc})") from exc
    return Observer


def _ignored(path: Path) -> bool:
    return any(part == "__pycache__" or (part.startswith(".") and part.endswith("venv"))
               for part in path.parts)


class _Handler:
    """The watchdog event handler: turns each event into paths for the debouncer."""

    def __init__(self, sink: Callable[[set[Path]], None], file_events: frozenset[str]) -> None:
        self._sink = sink
        self._file_events = file_events

    def dispatch(self, event: Any) -> None:
        """Called by watchdog's observer thread for every event."""
        wanted = _DIR_EVENTS if event.is_directory else self._file_events
        if event.event_type not in wanted:
            return
        paths = {Path(os.fsdecode(event.src_path))}
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.add(Path(os.fsdecode(dest)))
        # The plugin virtualenv (.venv) and bytecode caches change a lot and never hold plugins.
        paths = {p for p in paths if not _ignored(p)}
        if paths:
            self._sink(paths)


class PluginWatcher:
    """Watches a plugin directory recursively and reports changed paths in debounced batches.

    `on_change` runs on the watcher's own thread with every path touched since the last batch,
    once no new event has arrived for `debounce_seconds` (or `max_delay_seconds` after the
    first event of a batch, so a steady stream of writes cannot starve it). It decides itself
    whether content really changed (the loader compares hashes). The clock's `monotonic` times
    the debounce, so it must be one that advances by itself (the default `SystemClock`).
    """

    def __init__(
        self,
        plugin_dir: Path,
        on_change: Callable[[set[Path]], object],
        *,
        debounce_seconds: float = 0.05,
        max_delay_seconds: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if debounce_seconds < 0 or max_delay_seconds < debounce_seconds:
            raise ValueError(
                "debounce_seconds must be >= 0 and max_delay_seconds >= debounce_seconds, got "
                f"{debounce_seconds} and {max_delay_seconds}"
            )
        self.plugin_dir = Path(plugin_dir).resolve()
        self._on_change = on_change
        self._debounce = debounce_seconds
        self._max_delay = max_delay_seconds
        self._clock: Clock = clock or SystemClock()
        self._cond = threading.Condition()
        self._pending: set[Path] = set()
        self._first_at: float | None = None
        self._last_at = 0.0
        self._stopping = False
        self._observer: Any = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the watcher has been started and not stopped."""
        return self._thread is not None

    def start(self) -> None:
        """Start watching.

        Raises:
            WatcherUnavailable: watchdog is missing or the OS refused a watch (e.g. the
                inotify watch limit); the loader can then check files on each call instead.
        """
        if self._thread is not None:
            return
        observer = _load_observer_class()()
        file_events = _FILE_EVENTS
        if type(observer).__name__ != "InotifyObserver":
            file_events = file_events | {"modified"}  # other backends never report Closed
        try:
            observer.schedule(_Handler(self._add, file_events), str(self.plugin_dir),
                              recursive=True)
            observer.start()
        except OSError as exc:
            raise WatcherUnavailable(f"watching {self.plugin_dir} failed ({exc})") from exc
        self._observer = observer
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="plugin-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and join the threads; changes not yet reported are dropped."""
        observer, thread = self._observer, self._thread
        self._observer = self._thread = None
        if observer is not None:
            observer.stop()
            observer.join(timeout)
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> PluginWatcher:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _add(self, paths: set[Path]) -> None:
        with self._cond:
            now = self._clock.monotonic()
            self._pending |= paths
            self._last_at = now
            if self._first_at is None:
                self._first_at = now
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._on_change(batch)
            except Exception:
                logger.exception("plugin change handler failed for %d path(s)", len(batch))

    def _next_batch(self) -> set[Path] | None:
        """Wait for events, then for quiet; None once stopping."""
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            while not self._stopping:
                first = self._first_at if self._first_at is not None else self._last_at
                due = min(self._last_at + self._debounce, first + self._max_delay)
                remaining = due - self._clock.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._stopping:
                return None
            batch, self._pending, self._first_at = self._pending, set(), None
            return batch
