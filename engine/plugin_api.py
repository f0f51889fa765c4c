"""`influxdb3_local`: what plugins call to log, query, write and cache, over engine callbacks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .cache import PluginCache
from .clock import Clock
from .errors import (
    InternalDatabaseWrite,
    InvalidName,
    InvalidPluginCallArgument,
    PluginCallCancelled,
    QueryError,
    SyncWriteFailed,
)
from .names import INTERNAL_DATABASE, validate_database_name
from .observability import LogEntry

__all__ = [
    "LOG_LEVELS",
    "PluginAPI",
    "PluginCallResult",
    "PluginHost",
    "QueryParam",
    "format_log_line",
]

LOG_LEVELS = ("INFO", "WARN", "ERROR")

QueryParam = str | int | float | bool
QueryCallback = Callable[[str, str, dict[str, QueryParam] | None], list[dict[str, Any]]]
WriteCallback = Callable[[str, str, bool], None]
LogSink = Callable[[LogEntry], None]


class _Buildable(Protocol):
    def build(self) -> str: ...


def _no_log(entry: LogEntry) -> None:
    """Default sink: the per-call capture in `PluginAPI.log_lines` is enough."""


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class PluginHost:
    """The engine as `influxdb3_local` sees it: callbacks only, so this module knows no storage.

    Attributes:
        query: `(db, sql, params) -> rows`; raises (ideally `QueryError`) on failure.
        write: `(db, line_protocol, no_sync)` applies a write now; raises on failure. The
            database is created if missing, as any write does.
        clock: Time source for log records.
        log: Receives every log line a plugin emits (e.g. `Observability.log`).
        sweep_cache: Called whenever a plugin reads `influxdb3_local.cache`
            (e.g. `CacheStore.maybe_sweep`).
    """

    query: QueryCallback
    write: WriteCallback
    clock: Clock
    log: LogSink = _no_log
    sweep_cache: Callable[[], object] | None = None


def format_log_line(level: str, message: str) -> str:
    """A log line as dry runs report it, e.g. `INFO: message`."""
    return f"{level}: {message}"


@dataclass(frozen=True)
class PluginCallResult:
    """What one plugin call left behind: its log lines and every line it wrote, by database."""

    log_lines: list[str] = field(default_factory=list)
    database_writes: dict[str, list[str]] = field(default_factory=dict)


class PluginAPI:
    """The `influxdb3_local` object handed to one plugin call.

    Plugins use `info`, `warn`, `error`, `query`, `write`, `write_to_db`, `write_sync`,
    `write_sync_to_db` and `cache`, with InfluxDB 3's signatures. The engine then reads
    `pending_writes()` (applied only when the call returned normally: all or nothing),
    `log_lines` and `result()`.

    `write`/`write_to_db` call `build()` at once (so LineBuilder errors surface at the call
    site) but, as on InfluxDB 3, do not parse the line protocol: bad lines are refused when the
    batch is written back after the call, which the engine logs without failing the call.
    """

    def __init__(self, host: PluginHost, *, database: str, trigger_name: str,
                 cache: PluginCache, cancelled: Callable[[], bool] = _never_cancelled) -> None:
        self._host = host
        self._database = database
        self._trigger_name = trigger_name
        self._cache = cache
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._logs: list[LogEntry] = []
        self._pending: dict[str, list[str]] = {}
        self._synced: dict[str, list[str]] = {}

    # --- what plugins call -------------------------------------------------------------------

    def info(self, *args: object) -> None:
        """Log at INFO: each argument through `str()`, joined by single spaces."""
        self._log("INFO", args)

    def warn(self, *args: object) -> None:
        """Log at WARN: each argument through `str()`, joined by single spaces."""
        self._log("WARN", args)

    def error(self, *args: object) -> None:
        """Log at ERROR: each argument through `str()`, joined by single spaces."""
        self._log("ERROR", args)

    def query(self, query: str, args: Mapping[str, QueryParam] | None = None,
              database: str | None = None) -> list[dict[str, Any]]:
        """Run SQL with `$name` parameters; one dict per row.

        Args:
            query: The SQL text.
            args: Parameter values by name: str, int, float or bool.
            database: Defaults to the trigger's database.

        Raises:
            QueryError: The database name is invalid or the query failed.
        """
        self._check_cancelled()
        if not isinstance(query, str):
            raise InvalidPluginCallArgument("query", "query", "a str of SQL", query)
        params = _check_query_params(args)
        db = self._database if database is None else database
        _check_query_database(db, query)
        try:
            return self._host.query(db, query, params)
        except QueryError:
            raise
        except Exception as exc:  # every query failure reaches plugins as QueryError
            raise QueryError(db, query, str(exc)) from exc

    def write(self, line_builder: _Buildable) -> None:
        """Queue `line_builder.build()` for the trigger's database, written after the call."""
        self.write_to_db(self._database, line_builder)

    def write_to_db(self, db_name: str, line_builder: _Buildable) -> None:
        """Queue `line_builder.build()` for `db_name`, written after the call returns."""
        self._check_cancelled()
        _check_target(db_name, "write_to_db")
        text = _build(line_builder, "write_to_db")
        with self._lock:
            self._pending.setdefault(db_name, []).append(text)

    def write_sync(self, line_builder: _Buildable, no_sync: bool) -> None:
        """Write `line_builder.build()` to the trigger's database now."""
        self.write_sync_to_db(self._database, line_builder, no_sync)

    def write_sync_to_db(self, db_name: str, line_builder: _Buildable, no_sync: bool) -> None:
        """Write `line_builder.build()` to `db_name` now.

        `no_sync` is required, as on InfluxDB 3: True returns before the write is durable,
        False waits for the WAL flush (so a later query sees the data).

        Raises:
            SyncWriteFailed: The write was refused; the message says why.
        """
        self._check_cancelled()
        _check_target(db_name, "write_sync_to_db")
        if not isinstance(no_sync, bool):
            raise InvalidPluginCallArgument("write_sync_to_db", "no_sync", "True or False",
                                            no_sync)
        text = _build(line_builder, "write_sync_to_db")
        try:
            self._host.write(db_name, text, no_sync)
        except Exception as exc:  # InfluxDB 3 reports every failure the same way
            raise SyncWriteFailed(db_name, str(exc)) from exc
        with self._lock:
            self._synced.setdefault(db_name, []).append(text)

    @property
    def cache(self) -> PluginCache:
        """The trigger's cache (`get`/`put`/`delete`); reading it may sweep expired entries."""
        if self._host.sweep_cache is not None:
            self._host.sweep_cache()
        return self._cache

    # --- what the engine reads ---------------------------------------------------------------

    def pending_writes(self) -> dict[str, list[str]]:
        """Queued `write`/`write_to_db` texts by database, in call order (a copy)."""
        if not self._pending:  # most calls write nothing; spare them the lock
            return {}
        with self._lock:
            return {db: list(lines) for db, lines in self._pending.items()}

    def discard_writes(self) -> None:
        """Forget the queued writes (the call failed: all or nothing)."""
        with self._lock:
            self._pending.clear()

    @property
    def log_lines(self) -> list[str]:
        """This call's log lines, formatted `LEVEL: message`."""
        with self._lock:
            return [format_log_line(e.level, e.message) for e in self._logs]

    @property
    def log_entries(self) -> list[LogEntry]:
        """This call's log records, oldest first."""
        with self._lock:
            return list(self._logs)

    def result(self) -> PluginCallResult:
        """Log lines and every written text by database: synchronous writes first, then queued."""
        with self._lock:
            writes = {db: list(lines) for db, lines in self._synced.items()}
            for db, lines in self._pending.items():
                writes.setdefault(db, []).extend(lines)
        return PluginCallResult(log_lines=self.log_lines, database_writes=writes)

    def __repr__(self) -> str:
        return f"<influxdb3_local database={self._database!r} trigger={self._trigger_name!r}>"

    # --- helpers -----------------------------------------------------------------------------

    def _log(self, level: str, args: tuple[object, ...]) -> None:
        self._check_cancelled()
        entry = LogEntry(time=self._host.clock.now(), database=self._database,
                         trigger_name=self._trigger_name, level=level,
                         message=" ".join(str(arg) for arg in args))
        with self._lock:
            self._logs.append(entry)
        self._host.log(entry)

    def _check_cancelled(self) -> None:
        if self._cancelled():
            raise PluginCallCancelled(f"trigger {self._trigger_name!r} was stopped")


def _build(line_builder: object, method: str) -> str:
    build = getattr(line_builder, "build", None)
    if not callable(build):
        raise InvalidPluginCallArgument(
            method, "line_builder", "a LineBuilder or any object with a build() method "
            "returning line protocol", line_builder)
    text = build()
    if not isinstance(text, str):
        raise InvalidPluginCallArgument(method, "line_builder.build()", "a str of line protocol",
                                        text)
    return text


def _check_target(db_name: object, method: str) -> None:
    if not isinstance(db_name, str):
        raise InvalidPluginCallArgument(method, "db_name", "a str", db_name)
    if db_name == INTERNAL_DATABASE:
        raise InternalDatabaseWrite()


def _check_query_params(args: object) -> dict[str, QueryParam] | None:
    if args is None:
        return None
    if not isinstance(args, Mapping):
        raise InvalidPluginCallArgument("query", "args", "a dict of parameter values", args)
    for name, value in args.items():
        if not isinstance(name, str):
            raise InvalidPluginCallArgument("query", "a parameter name", "a str", name)
        if not isinstance(value, str | int | float | bool):
            raise InvalidPluginCallArgument(
                "query", f"parameter {name!r}", "a str, int, float or bool", value)
    return dict(args)


def _check_query_database(db: object, sql: str) -> None:
    if not isinstance(db, str):
        raise InvalidPluginCallArgument("query", "database", "a str or None", db)
    if db == INTERNAL_DATABASE:
        return  # readable (system tables), only writes to it are refused
    try:
        validate_database_name(db)
    except InvalidName as exc:
        raise QueryError(db, sql, f"invalid database name provided: {exc.reason}") from exc
