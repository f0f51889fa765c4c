"""Arrow query results as plain Python rows: timestamps as int ns, tags as str, any Arrow type."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """One dict per row, keys in column order.

    Conversions: every timestamp (any unit, any time zone), duration and time of day becomes
    an int of nanoseconds (also inside lists, structs and maps); dictionary columns (tags)
    become their values (`str`); float16 becomes float; lists become lists, structs dicts,
    maps dicts; decimals `decimal.Decimal`, dates `datetime.date`, binary `bytes`, intervals
    `pyarrow.MonthDayNano` tuples; NULL becomes None.
    """
    names = table.column_names
    columns = [column_values(table.column(i)) for i in range(table.num_columns)]
    if not columns:
        return [{} for _ in range(table.num_rows)]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def column_values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """The values of one column as plain Python objects (see `to_rows`)."""
    if pa.types.is_list_view(column.type) or pa.types.is_large_list_view(column.type):
        return _list_view_values(column)
    normal = _ns_type(column.type)
    if normal != column.type:
        column = column.cast(normal)
    plain = _int_type(column.type)
    if plain != column.type:
        column = column.cast(plain)
    return column.to_pylist(maps_as_pydicts="lossy")  # type: ignore[no-any-return]


def _ns_type(t: pa.DataType) -> pa.DataType:
    """`t` with every temporal type at nanosecond unit and no dictionary encoding."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("ns", t.tz)
    if pa.types.is_duration(t):
        return pa.duration("ns")
    if pa.types.is_time(t):
        return pa.time64("ns")
    if pa.types.is_dictionary(t):
        return _ns_type(t.value_type)
    if pa.types.is_float16(t):
        return pa.float64()
    return _map_children(t, _ns_type)


def _int_type(t: pa.DataType) -> pa.DataType:
    """`t` with every (nanosecond) temporal type as int64."""
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        return pa.int64()
    return _map_children(t, _int_type)


def _map_children(t: pa.DataType, fn: Any) -> pa.DataType:
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(fn(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(fn(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(fn(t.value_type)), t.list_size)
    if pa.types.is_map(t):
        return pa.map_(t.key_field.with_type(fn(t.key_type)),
                       t.item_field.with_type(fn(t.item_type)))
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(fn(t.field(i).type)) for i in range(t.num_fields)])
    return t


def _list_view_values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    # pyarrow 26 casts list views to lists incorrectly, so convert them row by row (they are
    # rare in query results).
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out: list[Any] = []
    for chunk in chunks:
        for i in range(len(chunk)):
            scalar = chunk[i]
            out.append(None if not scalar.is_valid else column_values(scalar.values))
    return out
