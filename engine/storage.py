"""`Storage`: the write path, the WAL buffer and its flushes, WAL delivery, snapshots and SQL."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from . import ingest
from .catalog import Catalog
from .clock import Clock, SystemClock, now_ns
from .datadir import CHECKPOINTS_DIR, WAL_DIR, lock_data_dir, release_lock
from .errors import EngineStopped, WalWriteFailed
from .names import validate_database_name
from .query import QueryEngine
from .recovery import recover
from .results import WriteResult
from .subscribers import CheckpointStore, Dispatcher, FlushCallback, Subscription
from .tables import TableStore
from .wal import OpKind, WalOp, WalRecord, WriteAheadLog
from .wal_buffer import WalBuffer

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_ROWS = 500_000
DEFAULT_SNAPSHOT_BYTES = 256 * 1024 * 1024
# How long close() waits for subscribers to finish what was delivered before giving up.
CLOSE_TIMEOUT = 60.0


class Storage:
    """Databases of tables written with line protocol, a WAL, WAL subscribers and SQL.

    A write is parsed, checked against each table's schema, applied to the table store (so
    queries see it at once) and buffered for the WAL. The buffer becomes a WAL record when a
    synchronous write needs durability (one fsync for every writer waiting: group commit),
    every `flush_interval` seconds, or when it holds `max_buffer_rows` rows. Subscribers get
    the records on the flush interval (or on `flush()`), as one `WalFlush` per delivery, in
    sequence order. With a `data_dir`, records are fsynced before a synchronous write returns,
    tables are snapshotted to Parquet once `snapshot_bytes` were written (or memory passes its
    budget), durable subscribers keep checkpoints, and a restart replays the WAL.
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        clock: Clock | None = None,
        *,
        flush_interval: float = 1.0,
        max_buffer_rows: int = DEFAULT_MAX_BUFFER_ROWS,
        memory_budget_bytes: int | None = None,
        snapshot_bytes: int = DEFAULT_SNAPSHOT_BYTES,
        background: bool = True,
        catalog: Catalog | None = None,
    ) -> None:
        """Open (or start) the storage; with `data_dir`, replay its WAL. No thread starts.

        Args:
            data_dir: where the WAL, snapshots and checkpoints live; None keeps all in memory.
            clock: time source for default timestamps, `now()` and the flush timer.
            flush_interval: seconds between timer flushes (and subscriber deliveries).
            max_buffer_rows: rows held for the WAL or for delivery that trigger an early flush.
            memory_budget_bytes: table data kept in memory; snapshotted data beyond it is
                evicted and read back from Parquet (None: no limit).
            snapshot_bytes: Arrow bytes written since the last snapshot that start a new one.
            background: run the flush timer and deliveries on threads (after `start()`).
            catalog: the database list to share (the engine's); by default its own.

        Raises:
            DataDirInUse: another engine has `data_dir` open.
            CatalogCorrupt, TableStoreCorrupt: data on disk cannot be read.
        """
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.flush_interval = flush_interval
        self.max_buffer_rows = max_buffer_rows
        self.memory_budget_bytes = memory_budget_bytes
        self.snapshot_bytes = snapshot_bytes
        self.background = background
        self._lock = threading.RLock()
        self._deliver_lock = threading.RLock()  # taken before the buffer's flush lock
        self._undelivered: list[WalRecord] = []
        self._undelivered_rows = 0
        self._subscribing = 0
        self._unsnapshotted = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = self._closed = False
        # Held until close() (or until this object is collected): one writer per WAL.
        fd = lock_data_dir(self.data_dir) if self.data_dir is not None else None
        self._unlock = weakref.finalize(self, release_lock, fd)
        try:
            self._open(catalog)
        except BaseException:
            self._unlock()
            raise

    def _open(self, catalog: Catalog | None) -> None:
        """Open catalog, tables, WAL and checkpoints, and replay the WAL."""
        self.catalog = catalog if catalog is not None else Catalog(self.data_dir)
        self.tables = TableStore(self.data_dir, memory_budget_bytes=self.memory_budget_bytes)
        self.queries = QueryEngine(
            self.tables, self.clock, database_exists=self.catalog.has_database
        )
        self._wal = WriteAheadLog(self.data_dir / WAL_DIR) if self.data_dir is not None else None
        self._dispatcher = self._make_dispatcher()
        last, self._unsnapshotted = recover(self.tables, self.catalog, self._wal)
        checkpoints = self._dispatcher.checkpoints
        last = max([last, *(checkpoints.get(name) or 0 for name in checkpoints.names())])
        self._buffer = WalBuffer(self._wal, last, self._lock, self._on_durable)
        self._submitted = last
        # Subscribers that are behind catch up from their checkpoints, not from this count.
        self._dispatcher.resume_after(last)

    def _make_dispatcher(self) -> Dispatcher:
        root = self.data_dir
        checkpoints = CheckpointStore(root / CHECKPOINTS_DIR if root is not None else None)
        backlog = self._read_backlog if self._wal is not None else None
        return Dispatcher(checkpoints, backlog, background=self.background)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flush timer and the delivery thread (with `background`)."""
        self._dispatcher.start()
        if self.background and self._thread is None and not self._closing:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Flush and deliver what is buffered, then stop the threads; idempotent.

        Writes that subscribers make during the last deliveries are still persisted (a
        durable subscriber gets them after the next start); later writes are refused.
        """
        if self._closing:
            return
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.tick()
            self._dispatcher.stop(timeout=CLOSE_TIMEOUT)
            self._buffer.persist()
        except OSError as exc:
            logger.error("final WAL flush failed; unflushed no_sync writes are lost: %s", exc)
        finally:
            self._closed = True
            self._unlock()

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise EngineStopped(operation)

    def __enter__(self) -> Storage:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- databases ------------------------------------------------------------------------

    def databases(self) -> list[str]:
        """Every database, sorted."""
        return self.catalog.list_databases()

    def create_database(self, db: str) -> None:
        """Create an empty database (InvalidName, DatabaseAlreadyExists)."""
        self.catalog.create_database(db)
        self.tables.create_database(db)

    def delete_database(self, db: str) -> None:
        """Delete a database from the catalog and all its data (DatabaseNotFound)."""
        self.catalog.delete_database(db)
        self.drop_database_data(db)

    def drop_database_data(self, db: str) -> None:
        """Delete the data of a database already removed from the catalog.

        The deletion is logged in the WAL, so a replay never brings back older rows.
        """
        self._check_open("delete a database")
        with self._lock:
            seq = self._buffer.add(WalOp(OpKind.DELETE_DATABASE, db))
            self.tables.drop_database(db)
            self.queries.forget(db)
        if self._wal is not None:
            self._make_durable(db, seq)

    # -- writes ---------------------------------------------------------------------------

    def write(
        self,
        db: str,
        data: ingest.Payload,
        *,
        precision: str = "auto",
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> WriteResult:
        """Write line protocol to `db`, creating the database if needed.

        Args:
            db: the database.
            data: line protocol, as text or UTF-8 bytes.
            precision: timestamp unit: auto, ns, us, ms, s (and their long names).
            accept_partial: store the good lines when some are bad (else store nothing).
            no_sync: return before the write is durable (it is still visible to queries).

        Returns:
            The number of lines written and every refused line.

        Raises:
            InvalidName: `db` breaks the naming rules.
            InvalidPrecision: `precision` is unknown.
            WriteError: nothing could be written, or a line is bad and `accept_partial` is
                False (nothing is written then).
            WalWriteFailed: the WAL could not be written; the lines stay buffered.
        """
        self._check_open("write")
        validate_database_name(db)
        parsed = ingest.parse(data, precision=precision, default_time=now_ns(self.clock))
        with self._lock:
            checked = ingest.check(data, parsed, lambda table: self.tables.schema(db, table))
            ingest.refuse(db, checked, accept_partial=accept_partial)
            seq = self._apply(db, checked)
            held = self._buffer.rows + self._undelivered_rows
        if self._wal is not None and not no_sync:
            self._make_durable(db, seq)
        if held >= self.max_buffer_rows:
            self._over_threshold()
        return WriteResult(checked.rows, list(checked.errors))

    def _apply(self, db: str, checked: ingest.CheckedWrite) -> int:
        if not self.tables.has_database(db) or not self.catalog.has_database(db):
            self.catalog.ensure_database(db)
            self.tables.create_database(db)
        seq = self._buffer.open_seq
        for table, rows in checked.tables.items():
            self.tables.append(db, table, rows, wal_seq=seq)
            self._buffer.add(WalOp.write(db, table, rows), rows.num_rows)
            self._unsnapshotted += rows.nbytes
        return seq

    def _over_threshold(self) -> None:
        if self.background and self._thread is not None:
            self._wake.set()
        else:
            try:
                self._buffer.persist()
            except OSError as exc:
                logger.error("WAL flush failed, its writes stay buffered: %s", exc)

    def _make_durable(self, db: str, seq: int) -> None:
        try:
            self._buffer.persist(until=seq)
        except OSError as exc:
            raise WalWriteFailed(db, str(exc)) from exc

    # -- flushes --------------------------------------------------------------------------

    def _on_durable(self, record: WalRecord) -> None:
        # Called under the lock; a record is kept for delivery only if someone may want it.
        if self._subscribing or self._dispatcher.subscriptions():
            self._undelivered.append(record)
            self._undelivered_rows += record.row_count

    def _submit(self) -> int:
        """Hand every durable record not yet delivered to the dispatcher as one batch."""
        with self._lock:
            records, self._undelivered = self._undelivered, []
            self._undelivered_rows = 0
            through = self._buffer.durable_seq
        if records or through > self._submitted:
            self._submitted = through
            self._dispatcher.submit(records, through=through)
        return through

    def tick(self) -> None:
        """One flush-interval step: persist the buffer, deliver, snapshot and trim the WAL.

        Failures are logged, never raised: the buffer is kept and retried on the next step.
        """
        with self._deliver_lock:
            try:
                self._buffer.persist()
            except OSError as exc:
                logger.error("WAL flush failed, its writes stay buffered: %s", exc)
            self._submit()
        try:
            self._maintain()
        except Exception:
            logger.exception("snapshot or WAL clean-up failed; retrying on the next flush")

    def flush(self, timeout: float | None = None) -> None:
        """Persist the buffer now and return once every subscriber has processed it.

        Raises:
            WalWriteFailed: the WAL could not be written (the buffer is kept).
        """
        with self._deliver_lock:
            try:
                self._buffer.persist()
            except OSError as exc:
                raise WalWriteFailed(None, str(exc)) from exc
            through = self._submit()
        self._dispatcher.wait(through, timeout)
        self._maintain()

    def _run(self) -> None:
        deadline = self.clock.monotonic() + self.flush_interval
        while not self._stop.is_set():
            remaining = deadline - self.clock.monotonic()
            if remaining > 0 and not self._wake.is_set():
                # Real seconds bound the wait so that an injected clock is re-read regularly.
                self._wake.wait(min(remaining, self.flush_interval))
                continue
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # the timer must outlive any one failure
                logger.exception("WAL flush step failed; retrying on the next interval")
            deadline = self.clock.monotonic() + self.flush_interval

    # -- snapshots and WAL clean-up -------------------------------------------------------

    def _maintain(self) -> None:
        if self._wal is None:
            return
        budget = self.memory_budget_bytes
        over_budget = budget is not None and self.tables.resident_bytes() > budget
        if self._unsnapshotted >= self.snapshot_bytes or over_budget:
            self.snapshot()
        self._collect_wal()

    def snapshot(self) -> int:
        """Persist the buffer, snapshot every table to Parquet; return the covered sequence.

        Writers wait meanwhile, so the snapshot covers exactly the records written so far.
        """
        if self._wal is None:
            return 0
        with self._buffer.flush_lock, self._lock:
            self._buffer.persist()
            covered = self.tables.snapshot(up_to_seq=self._buffer.durable_seq)
            self._unsnapshotted = 0
        logger.info("snapshot covers WAL records up to %d", covered)
        self._collect_wal()
        return covered

    def _collect_wal(self) -> None:
        """Remove WAL files that a snapshot covers and every durable checkpoint has passed."""
        if self._wal is None:
            return
        limit = self.tables.persisted_seq()
        lowest = self._dispatcher.checkpoints.minimum()
        if lowest is not None:
            limit = min(limit, lowest)
        self._wal.remove_through(limit)

    # -- recovery -------------------------------------------------------------------------

    def _read_backlog(self, after: int, through: int) -> Iterator[WalRecord]:
        assert self._wal is not None
        return self._wal.records(after=after, through=through)

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(
        self, name: str, callback: FlushCallback, *, durable: bool = True
    ) -> Subscription:
        """Receive every flush from now on, in order, as a `WalFlush`, on the delivery thread.

        Args:
            name: unique among live subscribers; names the checkpoint file.
            callback: called with each `WalFlush` that has rows; when it returns, the flush
                counts as processed (an exception is logged and counts as processed too).
            durable: with a `data_dir`, keep a checkpoint, so that after a crash or restart
                every acknowledged write reaches this subscriber at least once, in order.

        Raises:
            ValueError: a live subscriber already has that name.
        """
        with self._lock:
            self._subscribing += 1
            current = self._buffer.durable_seq
        try:
            return self._dispatcher.subscribe(
                name, callback, durable=durable and self._wal is not None, current_seq=current
            )
        finally:
            with self._lock:
                self._subscribing -= 1

    def unsubscribe(self, name: str, *, forget: bool = False) -> None:
        """Stop deliveries to `name`; `forget` drops its checkpoint so the WAL can be trimmed."""
        self._dispatcher.unsubscribe(name, forget=forget)

    # -- queries --------------------------------------------------------------------------

    def query_arrow(self, db: str, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run read-only SQL over `db` (DatabaseNotFound, QueryError); buffered rows included."""
        return self.queries.query_arrow(db, sql, params)

    def query(
        self, db: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`query_arrow` as one dict per row (time as int ns, tags as str)."""
        return self.queries.query(db, sql, params)

    @property
    def durable_seq(self) -> int:
        """The last WAL sequence number written (with a `data_dir`, fsynced)."""
        return self._buffer.durable_seq
