"""Write-ahead log: sequence-numbered flush records framed as Arrow IPC streams on disk."""

from __future__ import annotations

import enum
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from .durable import fsync_directory
from .wal_rows import plain_table, sparse_rows

logger = logging.getLogger(__name__)

WAL_SUFFIX = ".arrows"
TMP_SUFFIX = ".arrows.tmp"
FILE_MAGIC = b"PEWAL01\n"
FRAME_MAGIC = b"PEWF"
# magic, body length, CRC32 of the body
_FRAME_HEADER = struct.Struct("<4sQI")
_META_KIND = b"pe.kind"
_META_DB = b"pe.db"
_META_TABLE = b"pe.table"


class OpKind(enum.StrEnum):
    """What one WAL operation does."""

    WRITE = "write"
    CREATE_DATABASE = "create_database"
    DELETE_DATABASE = "delete_database"


@dataclass(frozen=True, slots=True)
class WalOp:
    """One operation in a flush: rows appended to a table, or a database created or deleted."""

    kind: OpKind
    db: str
    table: str = ""
    rows: pa.Table | None = None

    @classmethod
    def write(cls, db: str, table: str, rows: pa.Table) -> WalOp:
        """An append of `rows` to `db`.`table`."""
        return cls(OpKind.WRITE, db, table, rows)


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One flush as stored in the WAL: its sequence number and its operations in order."""

    seq: int
    ops: tuple[WalOp, ...]

    @property
    def row_count(self) -> int:
        """Rows written by this record."""
        return sum(op.rows.num_rows for op in self.ops if op.rows is not None)


def coalesce(ops: Iterable[WalOp]) -> list[WalOp]:
    """Merge the writes to each table into one op, keeping database ops as ordering barriers.

    Within a run of writes, tables keep the order in which they first appear and each table's
    rows keep their write order; a later chunk may add columns (missing ones become null).
    """
    result: list[WalOp] = []
    pending: dict[tuple[str, str], list[pa.Table]] = {}

    def close_run() -> None:
        for (db, table), chunks in pending.items():
            result.append(WalOp.write(db, table, concat_rows(chunks)))
        pending.clear()

    for op in ops:
        if op.kind is OpKind.WRITE and op.rows is not None:
            pending.setdefault((op.db, op.table), []).append(op.rows)
        else:
            close_run()
            result.append(op)
    close_run()
    return result


def concat_rows(chunks: Sequence[pa.Table]) -> pa.Table:
    """Concatenate row chunks of one table whose later chunks may have more columns."""
    if len(chunks) == 1:
        return chunks[0]
    return pa.concat_tables(chunks, promote_options="default")


def encode_op(op: WalOp) -> pa.Buffer:
    """One operation as Arrow IPC stream bytes; what it is rides in the schema metadata."""
    meta = {_META_KIND: op.kind.value.encode(), _META_DB: op.db.encode()}
    meta[_META_TABLE] = op.table.encode()
    rows = op.rows if op.rows is not None else pa.table({})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, rows.schema.with_metadata(meta)) as writer:
        writer.write_table(rows)
    return sink.getvalue()


def decode_op(body: pa.Buffer) -> WalOp:
    """The inverse of `encode_op`."""
    reader = ipc.open_stream(body)
    meta = reader.schema.metadata or {}
    kind = OpKind(meta[_META_KIND].decode())
    rows = reader.read_all().replace_schema_metadata(None)
    table = meta.get(_META_TABLE, b"").decode()
    return WalOp(kind, meta[_META_DB].decode(), table, rows if kind is OpKind.WRITE else None)


def segment_name(seq: int) -> str:
    """The file name of the record with sequence number `seq`."""
    return f"{seq:020d}{WAL_SUFFIX}"


def _parse_seq(name: str) -> int | None:
    stem = name[: -len(WAL_SUFFIX)] if name.endswith(WAL_SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


@dataclass(frozen=True, slots=True)
class _Decoded:
    ops: list[WalOp]
    good_bytes: int
    problem: str | None


def decode_file(data: bytes) -> _Decoded:
    """Decode a WAL file's frames, stopping at the first torn or corrupt one."""
    if not data.startswith(FILE_MAGIC):
        return _Decoded([], 0, "missing or damaged file header")
    view = memoryview(data)
    offset = len(FILE_MAGIC)
    ops: list[WalOp] = []
    while offset < len(data):
        problem, end = _frame_problem(view, offset)
        if problem is not None:
            return _Decoded(ops, offset, problem)
        body = pa.py_buffer(view[offset + _FRAME_HEADER.size : end])
        try:
            ops.append(decode_op(body))
        except (pa.ArrowException, KeyError, ValueError) as exc:
            return _Decoded(ops, offset, f"undecodable frame ({exc})")
        offset = end
    return _Decoded(ops, offset, None)


def _frame_problem(view: memoryview, offset: int) -> tuple[str | None, int]:
    """Check the frame at `offset`; return (problem or None, offset just past the frame)."""
    if len(view) - offset < _FRAME_HEADER.size:
        return "torn frame header", offset
    magic, length, crc = _FRAME_HEADER.unpack_from(view, offset)
    if magic != FRAME_MAGIC:
        return "bad frame marker", offset
    start = offset + _FRAME_HEADER.size
    if len(view) - start < length:
        return f"torn frame (needs {length} bytes, {len(view) - start} present)", offset
    if zlib.crc32(view[start : start + length]) != crc:
        return "checksum mismatch", offset
    return None, start + length


class WriteAheadLog:
    """A directory of WAL files, one per flush, named by sequence number.

    Each file is the file header followed by frames (header: magic, length, CRC32), and each
    frame body is an Arrow IPC stream holding one operation. A file is written under a temporary
    name, fsynced, renamed and the directory fsynced, so a crash never leaves a half-written
    record under a real name; damage found later (torn or corrupt frames) is cut off at the last
    complete frame and logged.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_unfinished()
        seqs = self.sequences()
        self.last_seq = seqs[-1] if seqs else 0

    def _remove_unfinished(self) -> None:
        for path in sorted(self.directory.glob(f"*{TMP_SUFFIX}")):
            logger.warning(
                "removing unfinished WAL file %s: the process stopped while writing it, "
                "so none of its writes were acknowledged",
                path,
            )
            path.unlink()

    def sequences(self) -> list[int]:
        """Sequence numbers of the WAL files present, in order."""
        seqs = (_parse_seq(entry.name) for entry in os.scandir(self.directory))
        return sorted(seq for seq in seqs if seq is not None)

    def path_of(self, seq: int) -> Path:
        """Where the record `seq` lives."""
        return self.directory / segment_name(seq)

    def write(self, seq: int, ops: Iterable[WalOp]) -> int:
        """Write one record durably (one file fsync plus one directory fsync).

        Args:
            seq: its sequence number; must be above every record already written.
            ops: the operations, coalesced per table before writing.

        Returns:
            The number of bytes written.

        Raises:
            OSError: the file could not be written; no file is left under the record's name.
        """
        if seq <= self.last_seq:
            raise ValueError(
                f"WAL sequence {seq} is not above the last one written ({self.last_seq})"
            )
        tmp = self.directory / f"{seq:020d}{TMP_SUFFIX}"
        try:
            size = self._write_file(tmp, coalesce(ops))
            os.replace(tmp, self.path_of(seq))
            fsync_directory(self.directory)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.last_seq = seq
        return size

    @staticmethod
    def _write_file(path: Path, ops: Sequence[WalOp]) -> int:
        size = len(FILE_MAGIC)
        with open(path, "wb") as handle:
            handle.write(FILE_MAGIC)
            for op in ops:
                body = encode_op(op)
                crc = zlib.crc32(memoryview(body))
                handle.write(_FRAME_HEADER.pack(FRAME_MAGIC, body.size, crc))
                handle.write(memoryview(body))
                size += _FRAME_HEADER.size + body.size
            handle.flush()
            os.fsync(handle.fileno())
        return size

    def read(self, seq: int) -> WalRecord:
        """Read one record, cutting a torn or corrupt tail at its last complete frame."""
        path = self.path_of(seq)
        data = path.read_bytes()
        decoded = decode_file(data)
        if decoded.problem is not None:
            self._cut(path, decoded, len(data))
        return WalRecord(seq, tuple(decoded.ops))

    def _cut(self, path: Path, decoded: _Decoded, size: int) -> None:
        logger.warning(
            "WAL file %s is damaged at byte %d of %d (%s): keeping the %d complete "
            "operation(s) before it and cutting the rest",
            path,
            decoded.good_bytes,
            size,
            decoded.problem,
            len(decoded.ops),
        )
        with open(path, "r+b") as handle:
            if decoded.good_bytes < len(FILE_MAGIC):
                handle.seek(0)
                handle.write(FILE_MAGIC)
            handle.truncate(max(decoded.good_bytes, len(FILE_MAGIC)))
            handle.flush()
            os.fsync(handle.fileno())

    def records(self, *, after: int = 0, through: int | None = None) -> Iterator[WalRecord]:
        """Records with `after` < seq <= `through`, in sequence order."""
        for seq in self.sequences():
            if seq > after and (through is None or seq <= through):
                yield self.read(seq)

    def remove_through(self, seq: int) -> int:
        """Delete every record with a sequence number up to `seq`; return how many."""
        removed = 0
        for old in self.sequences():
            if old > seq:
                break
            self.path_of(old).unlink(missing_ok=True)
            removed += 1
        if removed:
            fsync_directory(self.directory)
            logger.debug("removed %d WAL file(s) up to sequence %d", removed, seq)
        return removed


class WalFlush:
    """One delivery to WAL subscribers: consecutive records merged, grouped by database and table.

    Attributes:
        seq: the sequence number of the last record included (a subscriber's checkpoint).
        first_seq: the sequence number of the first record included.
        data: per database, the flushed rows of each table as Arrow, tables in first-write order.
    """

    def __init__(
        self, seq: int, data: Mapping[str, Mapping[str, pa.Table]], *, first_seq: int | None = None
    ) -> None:
        self.seq = seq
        self.first_seq = seq if first_seq is None else first_seq
        self.data = {db: dict(tables) for db, tables in data.items()}
        self._rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._plain: dict[tuple[str, str], pa.Table | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_records(cls, records: Sequence[WalRecord]) -> WalFlush:
        """Merge consecutive records; database operations carry no rows and are left out."""
        if not records:
            raise ValueError("a WalFlush needs at least one record")
        chunks: dict[str, dict[str, list[pa.Table]]] = {}
        for record in records:
            for op in record.ops:
                if op.kind is OpKind.WRITE and op.rows is not None and op.rows.num_rows:
                    chunks.setdefault(op.db, {}).setdefault(op.table, []).append(op.rows)
        data = {
            db: {table: concat_rows(parts) for table, parts in tables.items()}
            for db, tables in chunks.items()
        }
        return cls(records[-1].seq, data, first_seq=records[0].seq)

    def __repr__(self) -> str:
        return f"WalFlush(seq={self.seq}, first_seq={self.first_seq}, rows={self.row_count})"

    @property
    def databases(self) -> list[str]:
        """Databases with rows in this flush."""
        return list(self.data)

    @property
    def row_count(self) -> int:
        """Rows in this flush, over every database and table."""
        return sum(t.num_rows for tables in self.data.values() for t in tables.values())

    def tables(self, db: str) -> dict[str, pa.Table]:
        """The rows flushed to `db`, per table (empty when `db` has none)."""
        return self.data.get(db, {})

    def rows(self, db: str, table: str) -> list[dict[str, Any]]:
        """The sparse row dicts of one table, built on first use and then shared."""
        key = (db, table)
        with self._lock:
            cached = self._rows.get(key)
            if cached is None:
                arrow = self.data.get(db, {}).get(table)
                cached = sparse_rows(arrow) if arrow is not None else []
                self._rows[key] = cached
            return cached

    def plain(self, db: str, table: str) -> pa.Table | None:
        """One table's rows with tags as `str` and `time` as int64 ns, built once and shared."""
        key = (db, table)
        with self._lock:
            if key not in self._plain:
                arrow = self.data.get(db, {}).get(table)
                self._plain[key] = plain_table(arrow) if arrow is not None else None
            return self._plain[key]

    def table_batches(self, db: str) -> list[dict[str, Any]]:
        """`db`'s rows in the shape `process_writes` receives: `{"table_name", "rows"}` dicts."""
        return [{"table_name": name, "rows": self.rows(db, name)} for name in self.tables(db)]
