"""One table's rows in memory: Arrow record batches in chunks, conformance, duplicate merge."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaConflict
from .schema import (
    TIME,
    Column,
    ColumnKind,
    TableSchema,
    batch_column,
    conflict_message,
    to_storage,
)

# Appends are small; every this many batches the small ones are concatenated into one, so a
# table is held as a few large batches (less per-batch overhead, one dictionary per batch).
CONSOLIDATE_EVERY = 32
SMALL_BATCH_ROWS = 65_536
# A pending chunk stops growing at this size, so a snapshot writes files of bounded size.
CHUNK_MAX_ROWS = 4_000_000

_versions = itertools.count(1)
Loader = Callable[["Chunk"], list[pa.RecordBatch]]


def next_version() -> int:
    """A store-wide, ever-increasing version number (never reused, even across tables)."""
    return next(_versions)


@dataclass(eq=False)
class Chunk:
    """Rows appended in write order. Persisted chunks name their Parquet file; an evicted
    chunk (`batches is None`) is read back from that file when needed."""

    batches: list[pa.RecordBatch] | None
    rows: int
    nbytes: int
    min_time: int
    max_time: int
    max_seq: int
    file: str | None = None
    # Rewritten from persisted files by a duplicate merge: the old files are stale.
    rewritten: bool = False
    small: int = field(default=0, repr=False)

    @property
    def resident(self) -> bool:
        """Whether the rows are in memory."""
        return self.batches is not None


def time_range(table: pa.Table | pa.RecordBatch) -> tuple[int, int]:
    """The smallest and largest `time` (int ns) of non-empty rows."""
    bounds = pc.min_max(table.column(TIME).cast(pa.int64()))
    return int(bounds["min"].as_py()), int(bounds["max"].as_py())


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with exactly `schema`'s columns, in order; columns it lacks are all null."""
    if batch.schema.equals(schema):
        return batch
    names = set(batch.schema.names)
    arrays = [
        batch.column(f.name) if f.name in names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def merge_duplicates(table: pa.Table, schema: TableSchema) -> pa.Table:
    """Rows with the same tag set and time merged, as InfluxDB does: per field, the value of
    the last row (in table order) that has one; rows are in their first-seen order."""
    keys = [*schema.tags, TIME]
    fields = list(schema.fields)
    # Grouping needs one dictionary per tag column across all chunks.
    grouped = table.unify_dictionaries().group_by(keys, use_threads=False).aggregate(
        [(f, "last") for f in fields])
    renamed = grouped.rename_columns(keys + fields)
    return renamed.select(schema.names).cast(schema.arrow_schema)


def has_duplicate_keys(table: pa.Table, schema: TableSchema) -> bool:
    """Whether two rows of `table` share a tag set and a time."""
    if table.num_rows < 2:
        return False
    times = table.column(TIME)
    if pc.count_distinct(times).as_py() == table.num_rows:
        return False
    keys = [k for k in schema.tags if k in table.column_names] + [TIME]
    unique = table.unify_dictionaries().group_by(keys, use_threads=False).aggregate([])
    return bool(unique.num_rows < table.num_rows)


class TableData:
    """The rows of one table, held as Arrow record batches, never as Python objects.

    Duplicates (same tags and time) are merged lazily: an append only notes the earliest
    time from which duplicates may exist (`dup_from`), and `resolve_duplicates` merges the
    rows from that time on when the table is next read. Every row before `dup_from` is unique.
    """

    def __init__(self, schema: TableSchema, chunks: Sequence[Chunk] = (), *,
                 persisted_seq: int = 0) -> None:
        self.schema = schema
        self.chunks: list[Chunk] = list(chunks)
        self.persisted_seq = persisted_seq
        self.version = next_version()
        self.max_time: int | None = max((c.max_time for c in self.chunks), default=None)
        self.dup_from: int | None = None

    @property
    def rows(self) -> int:
        """Rows held, before duplicates are merged."""
        return sum(c.rows for c in self.chunks)

    @property
    def resident_bytes(self) -> int:
        """Arrow bytes held in memory."""
        return sum(c.nbytes for c in self.chunks if c.resident)

    def columns_of(self, batch: pa.Table) -> list[Column]:
        """The stored columns of an already-checked batch, as the table's schema knows them.

        A plain string column the schema knows as a tag is that tag (`parse_to_arrow` shape).
        """
        out = []
        for arrow_field in batch.schema:
            known = self.schema.column(arrow_field.name)
            if known is not None and known.kind is ColumnKind.TAG \
                    and pa.types.is_string(arrow_field.type):
                out.append(known)
                continue
            written = batch_column(arrow_field)
            if known is not None and written != known:
                raise SchemaConflict(self.schema.table, arrow_field.name,
                                     conflict_message(self.schema.table, known, written))
            out.append(written)
        return out

    def append(self, batch: pa.Table, seq: int) -> None:
        """Add rows (already schema-checked) written by WAL record `seq`."""
        if batch.num_rows == 0:
            return
        if "_line" in batch.column_names:
            batch = batch.drop_columns(["_line"])
        columns = self.columns_of(batch)
        self.schema = self.schema.extended(columns)
        stored = to_storage(batch, columns)
        low, high = time_range(stored)
        if (self.max_time is not None and low <= self.max_time) or has_duplicate_keys(
            stored, self.schema
        ):
            self.dup_from = low if self.dup_from is None else min(self.dup_from, low)
        self.max_time = high if self.max_time is None else max(self.max_time, high)
        self._add_rows(stored, seq, low, high)
        self.version = next_version()

    def _add_rows(self, stored: pa.Table, seq: int, low: int, high: int) -> None:
        batches = stored.combine_chunks().to_batches()
        nbytes = sum(b.nbytes for b in batches)
        last = self.chunks[-1] if self.chunks else None
        if last is None or last.file is not None or last.rows >= CHUNK_MAX_ROWS \
                or last.batches is None:
            self.chunks.append(Chunk([], 0, 0, low, high, seq))
            last = self.chunks[-1]
        assert last.batches is not None
        last.batches.extend(batches)
        last.rows += stored.num_rows
        last.nbytes += nbytes
        last.min_time, last.max_time = min(last.min_time, low), max(last.max_time, high)
        last.max_seq = max(last.max_seq, seq)
        last.small += len(batches)
        if last.small >= CONSOLIDATE_EVERY:
            self._consolidate(last)

    def _consolidate(self, chunk: Chunk) -> None:
        assert chunk.batches is not None
        big = [b for b in chunk.batches if b.num_rows >= SMALL_BATCH_ROWS]
        small = [conform(b, self.schema.arrow_schema) for b in chunk.batches
                 if b.num_rows < SMALL_BATCH_ROWS]
        if len(small) > 1:
            merged = pa.Table.from_batches(small).combine_chunks().to_batches()
            chunk.batches = big + merged
            chunk.nbytes = sum(b.nbytes for b in chunk.batches)
        chunk.small = 0

    def batches(self, load: Loader | None) -> list[pa.RecordBatch]:
        """Every row conformed to the current schema; evicted chunks come from `load`, or are
        left out when it is None."""
        schema = self.schema.arrow_schema
        out: list[pa.RecordBatch] = []
        for chunk in self.chunks:
            if chunk.batches is None:
                if load is not None:
                    out.extend(conform(b, schema) for b in load(chunk))
                continue
            if any(not b.schema.equals(schema) for b in chunk.batches):
                chunk.batches = [conform(b, schema) for b in chunk.batches]
                chunk.nbytes = sum(b.nbytes for b in chunk.batches)
            out.extend(chunk.batches)
        return out

    def resolve_duplicates(self, load: Loader) -> bool:
        """Merge duplicate rows from `dup_from` on; return whether any row changed."""
        if self.dup_from is None:
            return False
        cutoff = self.dup_from
        touched = [c for c in self.chunks if c.max_time >= cutoff]
        kept = [c for c in self.chunks if c.max_time < cutoff]
        table = pa.Table.from_batches(_chunk_batches(touched, self.schema, load),
                                      schema=self.schema.arrow_schema)
        times = table.column(TIME).cast(pa.int64())
        recent = table.filter(pc.greater_equal(times, cutoff))
        merged = merge_duplicates(recent, self.schema)
        self.dup_from = None
        if merged.num_rows == recent.num_rows:
            return False
        older = table.filter(pc.less(times, cutoff))
        result = pa.concat_tables([older, merged]).combine_chunks()
        low, high = time_range(result)
        chunk = Chunk(result.to_batches(), result.num_rows, result.nbytes, low, high,
                      max(c.max_seq for c in touched),
                      rewritten=any(c.file is not None or c.rewritten for c in touched))
        self.chunks = [*kept, chunk]
        self.version = next_version()
        return True


def _chunk_batches(chunks: Sequence[Chunk], schema: TableSchema,
                   load: Loader) -> list[pa.RecordBatch]:
    out: list[pa.RecordBatch] = []
    for chunk in chunks:
        source = chunk.batches if chunk.batches is not None else load(chunk)
        out.extend(conform(b, schema.arrow_schema) for b in source)
    return out
