"""Table schemas (tags, typed fields, time) and the vectorised schema check of incoming rows."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaConflict
from .lineprotocol import FieldType
from .lp_model import TAG_METADATA

TIME = "time"
LINE = "_line"
# InfluxDB 3 allows 500 columns per table, counting `time`, tags and fields.
MAX_COLUMNS_PER_TABLE = 500
TAG_TYPE = pa.dictionary(pa.int32(), pa.string())
TIME_TYPE = pa.timestamp("ns")
# IOx marks column kinds in Arrow field metadata; we read the same key.
IOX_COLUMN_KEY, IOX_TAG = next(iter(TAG_METADATA.items()))

FIELD_ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.INT64: pa.int64(),
    FieldType.UINT64: pa.uint64(),
    FieldType.FLOAT64: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING: pa.string(),
}


class ColumnKind(enum.StrEnum):
    """What a column is in the InfluxDB data model."""

    TAG = "tag"
    FIELD = "field"
    TIME = "time"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: a tag, a field with its `FieldType`, or the time column."""

    name: str
    kind: ColumnKind
    field_type: FieldType | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type this column is stored as."""
        if self.kind is ColumnKind.TAG:
            return TAG_TYPE
        if self.kind is ColumnKind.TIME:
            return TIME_TYPE
        assert self.field_type is not None, f"field {self.name!r} has no type"
        return FIELD_ARROW_TYPES[self.field_type]

    def describe(self) -> str:
        """`a tag`, `the time column`, or e.g. `a field of type float64`, for messages."""
        if self.kind is ColumnKind.FIELD:
            return f"a field of type {self.field_type}"
        if self.kind is ColumnKind.TAG:
            return "a tag"
        return "the time column"

    def to_json(self) -> dict[str, str]:
        """A JSON-ready form of the column."""
        out = {"name": self.name, "kind": self.kind.value}
        if self.field_type is not None:
            out["type"] = self.field_type.value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Column:
        """The inverse of `to_json`."""
        field_type = data.get("type")
        return cls(str(data["name"]), ColumnKind(data["kind"]),
                   None if field_type is None else FieldType(field_type))


@dataclass(frozen=True)
class TableSchema:
    """The columns of one table, sorted by name as InfluxDB 3 orders them; always has `time`."""

    table: str
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    _arrow: pa.Schema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.columns, key=lambda c: c.name))
        object.__setattr__(self, "columns", ordered)
        object.__setattr__(self, "_by_name", {c.name: c for c in ordered})
        if TIME not in self._by_name:
            raise ValueError(f"table schema for {self.table!r} has no {TIME!r} column")
        fields = [pa.field(c.name, c.arrow_type, nullable=c.kind is not ColumnKind.TIME)
                  for c in ordered]
        object.__setattr__(self, "_arrow", pa.schema(fields))

    @classmethod
    def empty(cls, table: str) -> TableSchema:
        """A schema with only the time column."""
        return cls(table, (Column(TIME, ColumnKind.TIME),))

    def column(self, name: str) -> Column | None:
        """The column called `name`, if any."""
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        """Every column name, sorted."""
        return [c.name for c in self.columns]

    @property
    def tags(self) -> list[str]:
        """Tag column names, sorted."""
        return [c.name for c in self.columns if c.kind is ColumnKind.TAG]

    @property
    def fields(self) -> dict[str, FieldType]:
        """Field column names (sorted) to their field types."""
        return {c.name: c.field_type for c in self.columns
                if c.kind is ColumnKind.FIELD and c.field_type is not None}

    @property
    def arrow_schema(self) -> pa.Schema:
        """How the table is stored: tags Dictionary(Int32, Utf8), typed fields, time not null."""
        return self._arrow

    def extended(self, new: Iterable[Column]) -> TableSchema:
        """This schema plus the columns in `new` whose names it does not have yet."""
        added = [c for c in new if c.name not in self._by_name]
        if not added:
            return self
        return TableSchema(self.table, self.columns + tuple(added))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form of the schema."""
        return {"table": self.table, "columns": [c.to_json() for c in self.columns]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSchema:
        """The inverse of `to_json`."""
        return cls(str(data["table"]), tuple(Column.from_json(c) for c in data["columns"]))


def mark_tags(batch: pa.Table, tags: Collection[str]) -> pa.Table:
    """`batch` with the columns named in `tags` marked as tags, the way IOx marks them
    (Arrow field metadata `iox::column::type` = `iox::column_type::tag`); no data is copied."""
    fields = [f.with_metadata({**(f.metadata or {}), IOX_COLUMN_KEY: IOX_TAG})
              if f.name in tags else f for f in batch.schema]
    return pa.Table.from_arrays(batch.columns, schema=pa.schema(fields, batch.schema.metadata))


def field_type_of(arrow_type: pa.DataType) -> FieldType | None:
    """The field type of an Arrow type, or None if fields cannot have that type."""
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return FieldType.STRING
    for name, candidate in FIELD_ARROW_TYPES.items():
        if arrow_type == candidate:
            return name
    return None


def batch_column(arrow_field: pa.Field) -> Column:
    """How a column of an incoming batch reads: dictionary or IOx-tagged columns are tags."""
    if arrow_field.name == TIME:
        return Column(TIME, ColumnKind.TIME)
    meta = arrow_field.metadata or {}
    if pa.types.is_dictionary(arrow_field.type) or meta.get(IOX_COLUMN_KEY) == IOX_TAG:
        return Column(arrow_field.name, ColumnKind.TAG)
    field_type = field_type_of(arrow_field.type)
    if field_type is None:
        raise SchemaConflict(
            "", arrow_field.name,
            f"type {arrow_field.type} is not a field type (int64, uint64, float64, bool, string)",
        )
    return Column(arrow_field.name, ColumnKind.FIELD, field_type)


def conflict_message(table: str, existing: Column, written: Column) -> str:
    """Why a line writing `written` is refused by a table that has `existing`."""
    return (
        f"schema conflict in table {table!r}: column {existing.name!r} is "
        f"{existing.describe()}, but this line writes it as {written.describe()}"
    )


def limit_message(table: str, column: str, limit: int) -> str:
    """Why a line adding `column` is refused by a table that is full."""
    return (
        f"table {table!r} would exceed the limit of {limit} columns per table (time, tags "
        f"and fields count) by adding column {column!r}"
    )


def to_storage(batch: pa.Table, columns: Sequence[Column]) -> pa.Table:
    """`batch` converted to the stored layout: dictionary tags, typed fields, timestamp time."""
    arrays = []
    fields = []
    for col in columns:
        array = batch.column(col.name)
        target = col.arrow_type
        if array.type != target:
            if col.kind is ColumnKind.TAG and not pa.types.is_dictionary(array.type):
                array = pc.dictionary_encode(array.cast(pa.string()))
            array = array.cast(target)
        arrays.append(array)
        fields.append(pa.field(col.name, target, nullable=col.kind is not ColumnKind.TIME))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class CheckResult(NamedTuple):
    """What `check_batch` decided: the rows to store, the refused lines, the table's schema."""

    accepted: pa.Table
    rejected: list[tuple[int, str]]
    schema: TableSchema


def check_batch(
    schema: TableSchema | None,
    table: str,
    batch: pa.Table,
    *,
    max_columns: int = MAX_COLUMNS_PER_TABLE,
) -> CheckResult:
    """Check rows for `table` against its schema and extend the schema with new columns.

    A row is refused when it writes a column with another type than the table has, writes a
    tag as a field or a field as a tag, or needs a new column beyond `max_columns`. Every other
    row is accepted. The work is columnar: the cost of a batch without conflicts does not
    depend on Python loops over rows.

    Args:
        schema: the table's current schema, or None for a new table.
        table: the table name, for messages.
        batch: rows in `parse_to_arrow` shape (tags as string columns marked as tags, or as
            dictionary columns; typed fields; `time` int64 ns or timestamp; optional `_line`).
        max_columns: the column limit per table, `time` included.

    Returns:
        `(accepted, rejected, schema)`: accepted rows in the stored layout (tags
        Dictionary(Int32, Utf8), time timestamp[ns], no `_line`), refused lines as
        `(line_number, message)` sorted by line, and the schema extended with the new columns
        the accepted rows use.
    """
    current = schema if schema is not None else TableSchema.empty(table)
    written = [batch_column(f) for f in batch.schema if f.name != LINE]
    refused = _Refusals(batch)
    new_columns: list[Column] = []
    for col in written:
        existing = current.column(col.name)
        if existing is None:
            new_columns.append(col)
        elif existing != col:
            refused.add(col.name, conflict_message(table, existing, col))
    room = max_columns - len(current)
    used_new = [c for c in new_columns if refused.has_values_left(c.name)]
    for col in used_new[max(room, 0):]:
        refused.add(col.name, limit_message(table, col.name, max_columns))
    kept = refused.accepted_rows()
    keep_new = {c.name for c in used_new[: max(room, 0)] if _has_values(kept, c.name)}
    final = current.extended(c for c in new_columns if c.name in keep_new)
    stored = [c for c in written if c == current.column(c.name) or c.name in keep_new]
    return CheckResult(to_storage(kept, stored), refused.messages(), final)


def _has_values(batch: pa.Table, name: str) -> bool:
    column = batch.column(name)
    return bool(len(column) > column.null_count)


class _Refusals:
    """The rows of a batch refused so far, with the first reason for each."""

    def __init__(self, batch: pa.Table) -> None:
        self._batch = batch
        self._mask: pa.Array | None = None
        self._reasons: list[tuple[pa.Array, str]] = []

    def add(self, column: str, message: str) -> None:
        """Refuse every row (not yet refused) that has a value in `column`."""
        hits = pc.is_valid(self._batch.column(column))
        if self._mask is not None:
            hits = pc.and_(hits, pc.invert(self._mask))
        hits = hits.combine_chunks() if isinstance(hits, pa.ChunkedArray) else hits
        if not pc.any(hits).as_py():
            return
        self._reasons.append((hits, message))
        self._mask = hits if self._mask is None else pc.or_(self._mask, hits)

    def has_values_left(self, column: str) -> bool:
        """Whether a row not refused so far has a value in `column`."""
        valid = pc.is_valid(self._batch.column(column))
        if self._mask is not None:
            valid = pc.and_(valid, pc.invert(self._mask))
        return bool(pc.any(valid).as_py())

    def accepted_rows(self) -> pa.Table:
        """The batch without the refused rows."""
        if self._mask is None:
            return self._batch
        return self._batch.filter(pc.invert(self._mask))

    def messages(self) -> list[tuple[int, str]]:
        """`(line_number, message)` for each refused row, in line order."""
        lines = self._line_numbers()
        out: list[tuple[int, str]] = []
        for hits, message in self._reasons:
            rows = pc.indices_nonzero(hits)
            out.extend((int(line), message) for line in pc.take(lines, rows).to_pylist())
        out.sort(key=lambda item: item[0])
        return out

    def _line_numbers(self) -> pa.Array:
        if LINE in self._batch.column_names:
            return self._batch.column(LINE).combine_chunks()
        return pa.array(range(1, self._batch.num_rows + 1), pa.int64())
