"""The table store: every database's tables as Arrow, Parquet snapshots, a memory budget."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from . import table_files as files
from .errors import TableNotFound
from .schema import TableSchema
from .table_data import Chunk, TableData, conform, next_version

logger = logging.getLogger(__name__)


class TableScan(NamedTuple):
    """What a query reads of a table at one version: resident batches plus evicted files.

    Every batch has exactly `schema`; files may lack newer columns (read them as null).
    """

    version: int
    schema: pa.Schema
    batches: list[pa.RecordBatch]
    files: list[Path]


class TableStore:
    """Per database, per table, the rows written so far, queryable as Arrow.

    Tags are stored as Dictionary(Int32, Utf8), fields typed, `time` as timestamp[ns] not
    null. Rows with the same tags and time merge as in InfluxDB (last write wins per field).
    With a `data_dir`, `snapshot` writes Parquet files and manifests under
    `data_dir/tables/<db>/<table>/`, and persisted data beyond `memory_budget_bytes` is evicted
    from memory and read back from Parquet when queried. Thread-safe.
    """

    def __init__(self, data_dir: str | Path | None = None, *,
                 memory_budget_bytes: int | None = None) -> None:
        self._root = Path(data_dir) / "tables" if data_dir is not None else None
        self._budget = memory_budget_bytes
        self._lock = threading.RLock()
        self._dbs: dict[str, dict[str, TableData]] = {}
        self._db_versions: dict[str, int] = {}
        self._persisted_seq = 0
        self._release_listeners: list[Callable[[str], None]] = []
        if self._root is not None:
            self._root.mkdir(parents=True, exist_ok=True)
            self._load()

    @classmethod
    def open(cls, data_dir: str | Path, *, memory_budget_bytes: int | None = None) -> TableStore:
        """A store over `data_dir`, with every snapshot found there loaded."""
        return cls(data_dir, memory_budget_bytes=memory_budget_bytes)

    def on_release(self, listener: Callable[[str], None]) -> None:
        """Call `listener(db)` when rows of `db` leave memory (eviction, database drop), so
        that holders of older scans (query contexts) can let go of them too."""
        with self._lock:
            self._release_listeners.append(listener)

    # -- databases and tables -------------------------------------------------------------

    def create_database(self, db: str) -> None:
        """Make `db` known (idempotent); tables appear in it on their first append."""
        with self._lock:
            if db in self._dbs:
                return
            self._dbs[db] = {}
            self._touch(db)
            if self._root is not None:
                directory = self._root / files.dir_name(db)
                directory.mkdir(exist_ok=True)
                files.write_json_atomic(directory / files.DATABASE_FILE, {"database": db})

    def has_database(self, db: str) -> bool:
        """Whether `db` is known."""
        with self._lock:
            return db in self._dbs

    def databases(self) -> list[str]:
        """Every known database, sorted."""
        with self._lock:
            return sorted(self._dbs)

    def drop_database(self, db: str) -> None:
        """Forget `db` and delete its snapshots (nothing happens if it is unknown)."""
        with self._lock:
            self._dbs.pop(db, None)
            self._db_versions[db] = next_version()
            if self._root is not None:
                files.drop_directory(self._root / files.dir_name(db))
            self._released({db})

    def tables(self, db: str) -> list[str]:
        """The tables of `db`, sorted (empty if `db` is unknown)."""
        with self._lock:
            return sorted(self._dbs.get(db, {}))

    def schema(self, db: str, table: str) -> TableSchema | None:
        """The schema of `db`.`table`, or None if it has no rows yet."""
        with self._lock:
            data = self._dbs.get(db, {}).get(table)
            return data.schema if data is not None else None

    def database_version(self, db: str) -> int:
        """A number that changes whenever anything in `db` changes (0 if never seen)."""
        with self._lock:
            return self._db_versions.get(db, 0)

    def table_version(self, db: str, table: str) -> int:
        """A number that changes whenever the rows of `db`.`table` change (0 if unknown)."""
        with self._lock:
            data = self._dbs.get(db, {}).get(table)
            return data.version if data is not None else 0

    # -- rows -----------------------------------------------------------------------------

    def append(self, db: str, table: str, batch: pa.Table, *, wal_seq: int) -> None:
        """Add schema-checked rows from WAL record `wal_seq` to `db`.`table`.

        `batch` is in `check_batch`'s accepted layout or `parse_to_arrow` shape (`_line` is
        ignored). Rows from a record the table's snapshot already covers are skipped, so a WAL
        replay after a restart is idempotent.
        """
        with self._lock:
            if batch.num_rows == 0:
                return
            if db not in self._dbs:
                self.create_database(db)
            tables = self._dbs[db]
            data = tables.get(table)
            if data is None:
                data = TableData(TableSchema.empty(table))
            elif wal_seq <= data.persisted_seq:
                return
            data.append(batch, wal_seq)
            tables[table] = data
            self._touch(db)

    def arrow(self, db: str, table: str) -> pa.Table:
        """Every row of `db`.`table`, duplicates merged, in the table's schema."""
        scan = self.scan(db, table)
        parts = [pa.Table.from_batches(scan.batches, schema=scan.schema)]
        for path in scan.files:
            parts.append(_conform_table(pa.Table.from_batches(files.read_parquet(path)),
                                        scan.schema))
        return pa.concat_tables(parts)

    def scan(self, db: str, table: str) -> TableScan:
        """The current rows of `db`.`table` for a query (duplicates merged first)."""
        with self._lock:
            data = self._dbs.get(db, {}).get(table)
            if data is None:
                raise TableNotFound(db, table)
            loader = self._loader(db, table)
            if data.resolve_duplicates(loader):
                self._touch(db)
            batches = data.batches(None)
            evicted = [self._path(db, table, c) for c in data.chunks if not c.resident]
            return TableScan(data.version, data.schema.arrow_schema, batches, evicted)

    def resident_bytes(self) -> int:
        """Arrow bytes of table data held in memory."""
        with self._lock:
            return sum(d.resident_bytes for _, _, d in self._each())

    # -- snapshots ------------------------------------------------------------------------

    def persisted_seq(self) -> int:
        """Every row from WAL records up to this sequence number is in Parquet (0: none)."""
        with self._lock:
            return self._persisted_seq

    def snapshot(self, *, up_to_seq: int) -> int:
        """Write the rows of WAL records up to `up_to_seq` to Parquet; return `persisted_seq()`.

        Each changed table gets a new Parquet file and an atomically replaced manifest naming
        the WAL sequence it covers; then `snapshot.json` records the store-wide sequence, and
        persisted data is evicted while memory is over the budget. Without a `data_dir` this
        does nothing.
        """
        with self._lock:
            if self._root is None:
                return self._persisted_seq
            covered = up_to_seq
            for db, table, data in list(self._each()):
                loader = self._loader(db, table)
                if data.resolve_duplicates(loader):
                    self._touch(db)
                if not self._persist_table(db, data, up_to_seq):
                    covered = min(covered, data.persisted_seq)
            covered = max(covered, self._persisted_seq)
            files.write_json_atomic(self._root / files.SNAPSHOT_FILE, {"persisted_seq": covered})
            self._persisted_seq = covered
            self._evict()
            return covered

    def _persist_table(self, db: str, data: TableData, up_to_seq: int) -> bool:
        pending = [c for c in data.chunks if c.file is None]
        if any(c.max_seq > up_to_seq for c in pending):
            # Rows of later records share a chunk with these (or a merge mixed them): writing
            # the chunk now would claim records the WAL must still replay.
            return False
        if not pending:
            return True
        directory = self._table_dir(db, data.schema.table)
        directory.mkdir(parents=True, exist_ok=True)
        self._write_chunk(directory, data, pending, up_to_seq)
        data.persisted_seq = max(data.persisted_seq, up_to_seq)
        files.write_json_atomic(directory / files.MANIFEST, files.manifest_data(db, data))
        files.remove_stale_files(directory, {c.file for c in data.chunks if c.file})
        return True

    def _write_chunk(self, directory: Path, data: TableData, pending: list[Chunk],
                     up_to_seq: int) -> None:
        batches = [conform(b, data.schema.arrow_schema) for c in pending
                   for b in (c.batches or [])]
        table = pa.Table.from_batches(batches, schema=data.schema.arrow_schema)
        name = files.write_parquet(directory, table, up_to_seq)
        merged = Chunk(batches, table.num_rows, table.nbytes,
                       min(c.min_time for c in pending), max(c.max_time for c in pending),
                       max(c.max_seq for c in pending), file=name)
        # Duplicates were merged just before, so the order of distinct rows does not matter.
        data.chunks = [*(c for c in data.chunks if c.file is not None), merged]
        data.version = next_version()

    def _evict(self) -> None:
        if self._budget is None:
            return
        held = self.resident_bytes()
        candidates = sorted(
            ((c.max_seq, db, table, c) for db, table, d in self._each() for c in d.chunks
             if c.resident and c.file is not None),
            key=lambda item: item[0],
        )
        released: set[str] = set()
        for _, db, table, chunk in candidates:
            if held <= self._budget:
                break
            held -= chunk.nbytes
            chunk.batches = None
            self._dbs[db][table].version = next_version()
            self._touch(db)
            released.add(db)
            logger.debug("evicted %d rows of %s.%s from memory", chunk.rows, db, table)
        self._released(released)

    def _released(self, dbs: set[str]) -> None:
        for db in sorted(dbs):
            for listener in self._release_listeners:
                listener(db)

    # -- loading --------------------------------------------------------------------------

    def _load(self) -> None:
        assert self._root is not None
        files.remove_dropped(self._root)
        snapshot = self._root / files.SNAPSHOT_FILE
        if snapshot.exists():
            self._persisted_seq = int(files.read_json(snapshot)["persisted_seq"])
        for db_dir in sorted(p for p in self._root.iterdir() if p.is_dir()):
            marker = db_dir / files.DATABASE_FILE
            if not marker.exists():
                continue
            db = str(files.read_json(marker)["database"])
            self._dbs[db] = {}
            self._touch(db)
            for manifest in sorted(db_dir.glob(f"*/{files.MANIFEST}")):
                _, data = files.load_manifest(manifest)
                self._dbs[db][data.schema.table] = data
                files.remove_stale_files(manifest.parent, {c.file for c in data.chunks if c.file})
        self._load_resident()

    def _load_resident(self) -> None:
        held = 0
        for db, table, data in self._each():
            for chunk in data.chunks:
                if self._budget is not None and held + chunk.nbytes > self._budget:
                    return
                chunk.batches = self._loader(db, table)(chunk)
                chunk.nbytes = sum(b.nbytes for b in chunk.batches)
                held += chunk.nbytes

    # -- helpers --------------------------------------------------------------------------

    def _each(self) -> Iterator[tuple[str, str, TableData]]:
        for db, tables in self._dbs.items():
            for table, data in tables.items():
                yield db, table, data

    def _touch(self, db: str) -> None:
        self._db_versions[db] = next_version()

    def _table_dir(self, db: str, table: str) -> Path:
        assert self._root is not None
        return self._root / files.dir_name(db) / files.dir_name(table)

    def _path(self, db: str, table: str, chunk: Chunk) -> Path:
        return self._table_dir(db, table) / str(chunk.file)

    def _loader(self, db: str, table: str) -> _Loader:
        return _Loader(self, db, table)


class _Loader:
    """Reads an evicted chunk of one table back from its Parquet file."""

    def __init__(self, store: TableStore, db: str, table: str) -> None:
        self._store = store
        self._db = db
        self._table = table

    def __call__(self, chunk: Chunk) -> list[pa.RecordBatch]:
        if chunk.file is None:
            return chunk.batches or []
        return files.read_parquet(self._store._path(self._db, self._table, chunk))


def _conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    names = set(table.column_names)
    arrays = [table.column(f.name) if f.name in names else pa.nulls(table.num_rows, f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
