"""Flushed rows as plugins receive them: sparse row dicts, and Arrow with plain types."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def plain_table(table: pa.Table) -> pa.Table:
    """`table` with tags as plain strings and timestamps as int64 nanoseconds (plugins' Arrow)."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        elif pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def sparse_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts holding only their non-null columns: tags, then fields, then `time`.

    Tags (dictionary columns) come out as `str`, fields keep their Python type, and timestamp
    columns come out as integer nanoseconds, the shape WAL plugins receive.
    """
    names = table.column_names
    tags = [name for name in names if pa.types.is_dictionary(table.schema.field(name).type)]
    tail = [name for name in names if name == "time"]
    ordered = tags + [name for name in names if name not in tags and name != "time"] + tail
    columns: list[list[Any]] = []
    has_nulls = False
    for name in ordered:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        has_nulls = has_nulls or column.null_count > 0
        columns.append(column.to_pylist())
    if not has_nulls:
        return [dict(zip(ordered, values, strict=True)) for values in zip(*columns, strict=True)]
    return [
        {key: value for key, value in zip(ordered, values, strict=True) if value is not None}
        for values in zip(*columns, strict=True)
    ]
