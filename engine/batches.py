"""The `table_batches` handed to WAL plugins: dicts with attribute access, lazy rows and Arrow."""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .schema import IOX_COLUMN_KEY, IOX_TAG, TIME

RowsFactory = Callable[[], list[dict[str, Any]]]
ArrowFactory = Callable[[], pa.Table]


class TableBatch(dict[str, Any]):
    """One table's rows of a WAL flush: `{"table_name", "rows"}` plus `.to_arrow()`.

    Real plugins index it as a dict (`batch["rows"]`), so it is one; the row dicts are built only
    when first asked for, so a plugin that reads `to_arrow()` never pays for them, and the Arrow
    table (given as a table or a function making it) only when `to_arrow()` is first called.
    """

    def __init__(
        self,
        table_name: str,
        arrow: pa.Table | ArrowFactory,
        rows: RowsFactory,
        *,
        num_rows: int | None = None,
    ) -> None:
        super().__init__(table_name=table_name, rows=None)
        self._arrow: pa.Table | None = arrow if isinstance(arrow, pa.Table) else None
        self._arrow_factory: ArrowFactory | None = None if isinstance(arrow, pa.Table) else arrow
        self._rows_factory: RowsFactory | None = rows
        self._num_rows = num_rows
        self._lock = threading.RLock()

    def _materialise(self) -> None:
        if self._rows_factory is None:
            return
        with self._lock:
            factory = self._rows_factory
            if factory is not None:
                dict.__setitem__(self, "rows", factory())
                self._rows_factory = None

    def __getitem__(self, key: str) -> Any:
        if key == "rows":
            self._materialise()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Like `dict.get`, building the rows when they are asked for."""
        if key == "rows":
            self._materialise()
        return dict.get(self, key, default)

    def items(self) -> Any:
        """Like `dict.items`, with the rows built."""
        self._materialise()
        return dict.items(self)

    def values(self) -> Any:
        """Like `dict.values`, with the rows built."""
        self._materialise()
        return dict.values(self)

    def __iter__(self) -> Iterator[str]:
        # A Python-level __iter__ makes dict(batch), {**batch} and json go through __getitem__.
        return iter(list(dict.keys(self)))

    def copy(self) -> dict[str, Any]:
        """A plain dict copy with the rows built."""
        self._materialise()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._materialise()
        if isinstance(other, TableBatch):
            other._materialise()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self._materialise()
        return dict.__repr__(self)

    @property
    def table_name(self) -> str:
        """The table these rows belong to."""
        return str(dict.__getitem__(self, "table_name"))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as sparse dicts in write order, `time` in int nanoseconds."""
        rows: list[dict[str, Any]] = self["rows"]
        return rows

    @property
    def num_rows(self) -> int:
        """How many rows the batch holds, without building them."""
        if self._num_rows is None:
            self._num_rows = self.to_arrow().num_rows
        return self._num_rows

    def to_arrow(self) -> pa.Table:
        """The rows as a `pyarrow.Table` (tags as strings, `time` as int64 nanoseconds)."""
        if self._arrow is None:
            with self._lock:
                if self._arrow is None:
                    assert self._arrow_factory is not None
                    self._arrow = self._arrow_factory()
                    self._arrow_factory = None
        return self._arrow

    def __reduce__(self) -> tuple[Any, ...]:
        self._materialise()
        return (dict, (dict(dict.items(self)),))


# --- row dicts from Arrow --------------------------------------------------------------------
#
# Building a million row dicts is the hot path of WAL plugins that read rows. Two things make it
# fast without numpy: column values come out of the Arrow buffers through `memoryview.tolist()`
# (strings through a dictionary, so repeated values share one `str`), and each row is made by a
# generated function whose body is a dict display, which beats `dict(zip(names, values))` twice.

_FORMATS = {
    pa.int64(): "q",
    pa.uint64(): "Q",
    pa.float64(): "d",
    pa.int32(): "i",
    pa.float32(): "f",
}
_LITTLE_ENDIAN = sys.byteorder == "little"


def sparse_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts holding only their non-null columns: tags, then fields, then `time`.

    Tags are the dictionary columns and those with IOx tag metadata; the other columns keep
    the table's order, `time` goes last. Timestamps come out as int nanoseconds, strings as
    `str`, numbers and booleans as their Python types: the shape InfluxDB 3 hands to
    `process_writes`.
    """
    names = _row_order(table.schema)
    columns: list[list[Any]] = []
    nulls: list[tuple[str, list[int]]] = []
    for name in names:
        column = table.column(name)
        values, missing = _column_values(column)
        columns.append(values)
        if missing:
            nulls.append((name, missing))
    if not names or table.num_rows == 0:
        return [{} for _ in range(table.num_rows)]
    rows: list[dict[str, Any]] = list(map(_row_maker(tuple(names)), *columns))
    for name, missing in nulls:
        for index in missing:
            del rows[index][name]
    return rows


def _row_order(schema: pa.Schema) -> list[str]:
    tags = [f.name for f in schema if f.name != TIME and _is_tag(f)]
    fields = [f.name for f in schema if f.name != TIME and not _is_tag(f)]
    return tags + fields + [f.name for f in schema if f.name == TIME]


def _is_tag(field: pa.Field) -> bool:
    # Tags are dictionary columns, or marked the way IOx marks them.
    if pa.types.is_dictionary(field.type):
        return True
    return (field.metadata or {}).get(IOX_COLUMN_KEY) == IOX_TAG


def _column_values(column: pa.ChunkedArray) -> tuple[list[Any], list[int]]:
    """A column as a Python list, and the positions of its nulls (their values are None)."""
    values: list[Any] = []
    missing: list[int] = []
    for chunk in column.chunks:
        if chunk.null_count:
            nulls = pc.indices_nonzero(chunk.is_null()).to_pylist()
            missing.extend(len(values) + i for i in nulls)
        values.extend(_chunk_values(chunk))
    return values, missing


def _chunk_values(chunk: pa.Array) -> list[Any]:
    kind = chunk.type
    if len(chunk) == 0:
        return []
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind) or pa.types.is_duration(kind):
        chunk = chunk.cast(pa.int64())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        chunk = pc.dictionary_encode(chunk)
    if pa.types.is_dictionary(chunk.type):
        return _decoded(chunk)
    code = _FORMATS.get(chunk.type)
    if code is None or not _LITTLE_ENDIAN:
        return chunk.to_pylist()  # type: ignore[no-any-return]
    if chunk.null_count:
        chunk = pc.fill_null(chunk, 0)
    return _buffer_values(chunk, code)


def _buffer_values(chunk: pa.Array, code: str) -> list[Any]:
    view = memoryview(chunk.buffers()[1]).cast(code)  # type: ignore[call-overload]
    start = chunk.offset
    values: list[Any] = view[start : start + len(chunk)].tolist()
    return values


def _decoded(chunk: pa.DictionaryArray) -> list[Any]:
    dictionary: list[Any] = chunk.dictionary.to_pylist()
    indices = chunk.indices
    if indices.null_count:
        # Nulls point at a None put after the values (the dictionary may even be empty).
        indices = pc.fill_null(indices, pa.scalar(len(dictionary), indices.type))
        dictionary.append(None)
    code = _FORMATS.get(indices.type)
    positions = indices.to_pylist() if code is None else _buffer_values(indices, code)
    return list(map(dictionary.__getitem__, positions))


@functools.lru_cache(maxsize=256)
def _row_maker(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function taking one value per column and returning the row dict.

    The generated source holds only positional identifiers; the column names are bound as
    default values, never pasted into code.
    """
    params = ", ".join(f"v{i}" for i in range(len(names)))
    keys = ", ".join(f"k{i}=k{i}" for i in range(len(names)))
    body = ", ".join(f"k{i}: v{i}" for i in range(len(names)))
    namespace = {f"k{i}": name for i, name in enumerate(names)}
    maker: Callable[..., dict[str, Any]] = (
        eval(  # generated from indices only: no name reaches the source
            f"lambda {params}, *, {keys}: {{{body}}}", namespace
        )
    )
    return maker
