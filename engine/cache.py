"""The plugin cache: live Python objects in per-trigger, global and test namespaces, with TTLs."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .errors import InvalidCacheKey, InvalidCacheTTL

__all__ = ["SWEEP_INTERVAL", "TEST_CACHE_DEFAULT_TTL", "CacheStore", "PluginCache"]

# A test run's entries live 30 minutes unless given a ttl, as on the reference server.
TEST_CACHE_DEFAULT_TTL = 30 * 60.0
# The reference sweeps expired entries of every namespace at most this often (seconds).
SWEEP_INTERVAL = 10.0
# Largest ttl the reference accepts: its durations hold at most 2**64 - 1 whole seconds.
_MAX_TTL = float(2**64)

_Key = tuple[str, ...]
_GLOBAL: _Key = ("global",)


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: float | None  # on the clock's monotonic scale; None never expires


def _check_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidCacheTTL(ttl, f"expected a number of seconds, got {type(ttl).__name__}")
    seconds = float(ttl)
    if math.isnan(seconds):
        raise InvalidCacheTTL(ttl, "it is NaN")
    if seconds < 0:
        raise InvalidCacheTTL(ttl, "it is negative")
    if seconds >= _MAX_TTL:
        raise InvalidCacheTTL(ttl, "it is too big")
    return seconds


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidCacheKey(key)
    return key


class CacheStore:
    """Every cache namespace of one engine; thread-safe.

    Trigger namespaces are keyed by database and trigger name and dropped with `clear_trigger`
    (the trigger was disabled or deleted) or `clear_database`. The global namespace is shared by
    all triggers of all databases and only loses entries by expiry. Test namespaces, selected by
    a dry run's `cache_name`, are separate from both. Nothing is copied or serialised: `get`
    returns the very object `put` was given.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spaces: dict[_Key, dict[str, _Entry]] = {}
        self._last_sweep: float | None = None

    def for_trigger(self, db: str, trigger_name: str) -> PluginCache:
        """The cache a trigger's plugin sees: its own namespace plus the global one."""
        return PluginCache(self, ("trigger", db, trigger_name), _GLOBAL, default_ttl=None)

    def namespace(self, name: str) -> PluginCache:
        """The cache of dry runs using `cache_name=name`: test-only local and global namespaces.

        Entries without a ttl expire after `TEST_CACHE_DEFAULT_TTL` seconds.
        """
        return PluginCache(self, ("test", name), ("global-test", name),
                           default_ttl=TEST_CACHE_DEFAULT_TTL)

    def clear_trigger(self, db: str, trigger_name: str) -> None:
        """Drop a trigger's namespace (the trigger was disabled or deleted)."""
        with self._lock:
            self._spaces.pop(("trigger", db, trigger_name), None)

    def clear_database(self, db: str) -> None:
        """Drop the namespaces of every trigger of a database (the database was deleted)."""
        with self._lock:
            for key in [k for k in self._spaces if k[0] == "trigger" and k[1] == db]:
                del self._spaces[key]

    def sweep(self) -> int:
        """Remove expired entries from every namespace; returns how many were removed."""
        now = self._clock.monotonic()
        removed = 0
        with self._lock:
            self._last_sweep = now
            for space in self._spaces.values():
                expired = [k for k, e in space.items() if _is_expired(e, now)]
                for entry_key in expired:
                    del space[entry_key]
                removed += len(expired)
            for space_key in [k for k, space in self._spaces.items() if not space]:
                del self._spaces[space_key]
        return removed

    def maybe_sweep(self) -> int:
        """`sweep()` unless one ran less than `SWEEP_INTERVAL` seconds ago; returns removals."""
        now = self._clock.monotonic()
        with self._lock:
            due = self._last_sweep is None or now - self._last_sweep >= SWEEP_INTERVAL
        return self.sweep() if due else 0

    def snapshot(self, cache: PluginCache, *, use_global: bool = False) -> dict[str, Any]:
        """The live (unexpired) entries one side of `cache` holds, for test kits and debugging."""
        key = cache._global_key if use_global else cache._local_key
        now = self._clock.monotonic()
        with self._lock:
            space = self._spaces.get(key, {})
            return {k: e.value for k, e in space.items() if not _is_expired(e, now)}

    def _get(self, space_key: _Key, key: str, default: Any) -> Any:
        now = self._clock.monotonic()
        with self._lock:
            space = self._spaces.get(space_key, {})
            entry = space.get(key)
            if entry is None:
                return default
            if _is_expired(entry, now):
                del space[key]
                return default
            return entry.value

    def _put(self, space_key: _Key, key: str, value: Any, ttl: float | None) -> None:
        now = self._clock.monotonic()
        expires_at = None if ttl is None else now + ttl
        with self._lock:
            self._spaces.setdefault(space_key, {})[key] = _Entry(value, expires_at)

    def _delete(self, space_key: _Key, key: str) -> bool:
        now = self._clock.monotonic()
        with self._lock:
            space = self._spaces.get(space_key)
            entry = None if space is None else space.pop(key, None)
        # An entry that had already expired counts as absent, as it would for `get`.
        return entry is not None and not _is_expired(entry, now)


def _is_expired(entry: _Entry, now: float) -> bool:
    return entry.expires_at is not None and entry.expires_at <= now


class PluginCache:
    """`influxdb3_local.cache`: the reference server's `get`/`put`/`delete`, nothing else public.

    `use_global` picks the shared namespace instead of the trigger's own one (any truthy value).
    """

    def __init__(self, store: CacheStore, local_key: _Key, global_key: _Key, *,
                 default_ttl: float | None) -> None:
        self._store = store
        self._local_key = local_key
        self._global_key = global_key
        self._default_ttl = default_ttl

    def _space(self, use_global: bool | None) -> _Key:
        return self._global_key if use_global else self._local_key

    def get(self, key: str, default: Any = None, use_global: bool | None = None) -> Any:
        """The object stored under `key`, or `default` if there is none or it expired."""
        return self._store._get(self._space(use_global), _check_key(key), default)

    def put(self, key: str, value: Any, ttl: float | None = None,
            use_global: bool | None = None) -> None:
        """Store `value` itself (not a copy) under `key`, for `ttl` seconds or without end.

        Raises:
            InvalidCacheTTL: `ttl` is not a number, or is negative, NaN or too big.
        """
        seconds = self._default_ttl if ttl is None else _check_ttl(ttl)
        self._store._put(self._space(use_global), _check_key(key), value, seconds)

    def delete(self, key: str, use_global: bool | None = None) -> bool:
        """Remove `key`; True if a live entry was removed."""
        return self._store._delete(self._space(use_global), _check_key(key))

    def __repr__(self) -> str:
        return f"PluginCache({'/'.join(self._local_key)})"
