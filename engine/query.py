"""Read-only SQL over the table store with Apache DataFusion, as InfluxDB 3 answers it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import SessionConfig, SessionContext, SQLOptions, udf
from datafusion.catalog import Table

from .clock import Clock, now_ns
from .errors import DatabaseNotFound, QueryError
from .query_values import to_rows
from .tables import TableScan, TableStore

logger = logging.getLogger(__name__)

# InfluxDB 3 names its catalog `public` and its table schema `iox`
# (errors read "table 'public.iox.cpu' not found"); system tables live in schema `system`.
CATALOG = "public"
TABLE_SCHEMA = "iox"
SYSTEM_SCHEMA = "system"
SESSION_SETTINGS = {
    # Strings stay Utf8 (what plugins compare in information_schema), never Utf8View.
    "datafusion.sql_parser.map_string_types_to_utf8view": "false",
    "datafusion.execution.parquet.schema_force_view_types": "false",
}
PARAM_TYPES = (str, int, float, bool)
_NS_PER_DAY = 86_400 * 1_000_000_000

SystemTableProvider = Callable[[str], pa.Table]


def quote_ident(name: str) -> str:
    """`name` as a double-quoted SQL identifier (exact case, dots and quotes allowed)."""
    return '"' + name.replace('"', '""') + '"'


class _SystemSchema:
    """The `system` schema: each table is built by its provider when a query plans it."""

    def __init__(self, db: str, providers: Mapping[str, SystemTableProvider]) -> None:
        self._db = db
        self._providers = providers

    @property
    def table_names(self) -> list[str]:
        # DataFusion's Python binding reads this as an attribute, not a method.
        return sorted(self._providers)

    def table(self, name: str) -> Table | None:
        provider = self._providers.get(name)
        if provider is None:
            return None
        return Table(ds.dataset(provider(self._db)))

    def table_exist(self, name: str) -> bool:
        return name in self._providers

    def owner_name(self) -> str | None:
        return None

    def register_table(self, name: str, table: Any) -> None:
        raise QueryError(self._db, "", "system tables are read-only")

    def deregister_table(self, name: str, cascade: bool) -> None:
        raise QueryError(self._db, "", "system tables are read-only")


class _Session:
    """One database's DataFusion context and which table versions it has registered."""

    def __init__(self, db: str, clock: Clock | None,
                 providers: Mapping[str, SystemTableProvider]) -> None:
        config = SessionConfig().with_information_schema(True)
        config = config.with_default_catalog_and_schema(CATALOG, TABLE_SCHEMA)
        for key, value in SESSION_SETTINGS.items():
            config = config.set(key, value)
        self.ctx = SessionContext(config)
        self.ctx.catalog(CATALOG).register_schema(
            SYSTEM_SCHEMA, cast(Any, _SystemSchema(db, providers)))
        self.lock = threading.Lock()
        self.db_version = -1
        self.registered: dict[str, int] = {}
        self.now = 0
        if clock is not None:
            self._use_clock()

    def _use_clock(self) -> None:
        # These functions are stable, so DataFusion evaluates them once while planning; they
        # read the instant captured for the query being planned (DataFusion offers no other
        # way to set a query's start time).
        def current() -> pa.Array:
            return pa.array([self.now], pa.timestamp("ns"))

        def today() -> pa.Array:
            return pa.array([self.now // _NS_PER_DAY], pa.int32()).cast(pa.date32())

        def time_of_day() -> pa.Array:
            return pa.array([self.now % _NS_PER_DAY], pa.int64()).cast(pa.time64("ns"))

        functions = [("now", current, pa.timestamp("ns")),
                     ("current_timestamp", current, pa.timestamp("ns")),
                     ("current_date", today, pa.date32()),
                     ("current_time", time_of_day, pa.time64("ns"))]
        for name, fn, result_type in functions:
            self.ctx.register_udf(udf(fn, [], result_type, "stable", name=name))

    def refresh(self, store: TableStore, db: str) -> None:
        """Register new or changed tables and drop vanished ones; nothing if `db` is unchanged."""
        version = store.database_version(db)
        if version == self.db_version:
            return
        current = set(store.tables(db))
        for name in [n for n in self.registered if n not in current]:
            self.ctx.deregister_table(quote_ident(name))
            del self.registered[name]
        for name in current:
            if self.registered.get(name) == store.table_version(db, name):
                continue
            scan = store.scan(db, name)
            if name in self.registered:
                self.ctx.deregister_table(quote_ident(name))
            self._register(name, scan)
            self.registered[name] = scan.version
        self.db_version = version

    def _register(self, name: str, scan: TableScan) -> None:
        ident = quote_ident(name)
        if not scan.files:
            batches = scan.batches or [pa.RecordBatch.from_pylist([], schema=scan.schema)]
            self.ctx.register_record_batches(ident, [batches])
            return
        # Part of the table was evicted to Parquet: read it from there at query time.
        parts = [ds.dataset([str(p) for p in scan.files], schema=scan.schema, format="parquet")]
        if scan.batches:
            parts.append(ds.dataset(scan.batches, schema=scan.schema))
        self.ctx.register_dataset(ident, parts[0] if len(parts) == 1 else ds.dataset(parts))


class QueryEngine:
    """SQL over a `TableStore`, one cached DataFusion context per database.

    A table is registered again only when its version changed, so repeated queries pay only
    DataFusion's own planning and execution. The engine is read-only: DDL, DML and `SET`
    statements are refused. `now()` comes from the injected clock when one is given.
    """

    def __init__(self, store: TableStore, clock: Clock | None = None, *,
                 database_exists: Callable[[str], bool] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._exists = database_exists or store.has_database
        self._sessions: dict[str, _Session] = {}
        self._providers: dict[str, SystemTableProvider] = {}
        self._lock = threading.Lock()
        # A context keeps the batches it registered alive: drop it when the store lets go.
        store.on_release(self.forget)
        self._options = (SQLOptions().with_allow_ddl(False).with_allow_dml(False)
                         .with_allow_statements(False))

    def register_system_table(self, name: str, provider: SystemTableProvider) -> None:
        """Serve `system.<name>` in every database from `provider(db)`, called at query time."""
        with self._lock:
            self._providers[name] = provider
            self._sessions.clear()

    def query_arrow(self, db: str, sql: str,
                    params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run `sql` in `db` and return the result as Arrow.

        Args:
            db: the database name.
            sql: one read-only SQL statement; `$name` placeholders take values from `params`.
            params: placeholder values (`str`, `int`, `float` or `bool`), bound after parsing
                as typed values, never spliced into the SQL text.

        Raises:
            DatabaseNotFound: `db` does not exist.
            QueryError: the SQL is invalid, not read-only, or fails.
        """
        values = _param_values(db, sql, params)
        session = self._session(db)
        try:
            with session.lock:
                session.refresh(self._store, db)
                if self._clock is not None:
                    session.now = now_ns(self._clock)
                frame = session.ctx.sql(sql, options=self._options, param_values=values)
            return frame.to_arrow_table()
        except QueryError:
            raise
        except Exception as exc:  # DataFusion raises plain Exception subclasses
            raise QueryError(db, sql, _reason(exc)) from exc

    def query(self, db: str, sql: str,
              params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """`query_arrow` as one dict per row: times as int ns, tags as str, NULL as None."""
        return to_rows(self.query_arrow(db, sql, params))

    def forget(self, db: str) -> None:
        """Drop the cached context of `db` (after it was deleted, say)."""
        with self._lock:
            self._sessions.pop(db, None)

    def _session(self, db: str) -> _Session:
        if not self._exists(db):
            self.forget(db)
            raise DatabaseNotFound(db)
        with self._lock:
            session = self._sessions.get(db)
            if session is None:
                session = self._sessions[db] = _Session(db, self._clock, dict(self._providers))
            return session


def _param_values(db: str, sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    if not params:
        return {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key.lstrip("$"):
            raise QueryError(db, sql, f"parameter names must be non-empty strings, got {key!r}")
        if not isinstance(value, PARAM_TYPES):
            raise QueryError(
                db, sql,
                f"parameter ${key.lstrip('$')} has unsupported type {type(value).__name__}; "
                "accepted types are str, int, float and bool",
            )
        try:
            out[key.lstrip("$")] = pa.scalar(value)
        except (pa.ArrowException, OverflowError) as exc:
            raise QueryError(db, sql, f"parameter ${key.lstrip('$')}: {exc}") from exc
    return out


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    for kind in ("DDL", "DML", "Statement"):
        if f"{kind} not supported" in text:
            return (f"the query engine is read-only: {kind} statements are not allowed "
                    f"({text})")
    return text
