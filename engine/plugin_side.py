"""The plugin half of an engine: worker pool, loader, watcher, caches, logs and running triggers."""

from __future__ import annotations

import logging
from pathlib import Path

from .cache import CacheStore
from .clock import Clock
from .errors import WatcherUnavailable
from .linebuilder import PLUGIN_BUILTINS
from .loader import PluginLoader
from .observability import Observability
from .options import EngineOptions
from .triggers import EngineHooks, TriggerManager
from .workers import WorkerPool

logger = logging.getLogger(__name__)

# Enough threads that a few hung plugins leave room for everyone else.
DEFAULT_MAX_WORKERS = 32


class PluginSide:
    """Owns everything that runs plugins; the engine starts and stops it."""

    def __init__(self, options: EngineOptions, clock: Clock, hooks: EngineHooks) -> None:
        self._options = options
        self._clock = clock
        self.observability = Observability(max_logs=int(options.extra["log_buffer_size"]))
        self.caches = CacheStore(clock)
        self.pool = WorkerPool(DEFAULT_MAX_WORKERS) if options.background else None
        watching = options.background and options.watch_plugins
        self.loader = (
            PluginLoader(options.plugin_dir, builtins=PLUGIN_BUILTINS, clock=clock,
                         watching=watching)
            if options.plugin_dir is not None else None
        )
        self.triggers = TriggerManager(
            clock=clock, loader=self.loader, caches=self.caches,
            observability=self.observability, hooks=hooks, pool=self.pool,
        )
        self._watcher: object | None = None

    def start(self) -> None:
        """Start the scheduler thread and the plugin watcher (background mode only)."""
        if not self._options.background:
            return
        self.triggers.scheduler.start()
        if self.loader is not None and self.loader.watching:
            self._start_watcher(self.loader)

    def _start_watcher(self, loader: PluginLoader) -> None:
        from .watcher import PluginWatcher  # watchdog is only needed when watching

        watcher = PluginWatcher(Path(loader.plugin_dir), loader.mark_changed)
        try:
            watcher.start()
        except WatcherUnavailable as exc:
            # Without a watcher the loader still sees changes: it checks files on every call.
            logger.warning("plugin watcher unavailable, checking files on each call: %s", exc)
            loader.watching = False
            return
        self._watcher = watcher

    def stop(self) -> None:
        """Stop every trigger, the scheduler, the watcher and the pool (never waits on plugins)."""
        self.triggers.stop_all()
        self.triggers.scheduler.stop()
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()  # type: ignore[attr-defined]
            self._watcher = None
        if self.pool is not None:
            self.pool.shutdown()
