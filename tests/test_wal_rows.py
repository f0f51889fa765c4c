"""Specification of flushed rows as plugins see them: sparse dicts and plain Arrow."""

from __future__ import annotations

import pyarrow as pa
from store_support import TIME, typed_rows

from engine.wal_rows import plain_table, sparse_rows


def test_sparse_rows_hold_only_present_columns_with_python_types() -> None:
    rows = sparse_rows(typed_rows())
    assert rows == [
        {
            "region": "eu",
            "i": -3,
            "u": 2**64 - 1,
            "f": 1.5,
            "b": True,
            "s": 'quote " and \\',
            "time": 1_700_000_000_000_000_001,
        },
        {"u": 7, "f": 2.0, "s": "é", "time": 5},
    ]
    assert list(rows[0]) == ["region", "i", "u", "f", "b", "s", "time"]
    assert all(type(row["time"]) is int for row in rows)


def test_sparse_rows_put_tags_first_and_time_last() -> None:
    table = pa.table(
        {
            "time": pa.array([10], TIME),
            "v": pa.array([1], pa.int64()),
            "host": pa.array(["h"]).dictionary_encode(),
        }
    )
    assert list(sparse_rows(table)[0]) == ["host", "v", "time"]


def test_plain_tables_have_string_tags_and_integer_times() -> None:
    plain = plain_table(typed_rows())
    assert plain.column_names == typed_rows().column_names
    assert plain.schema.field("region").type == pa.string()
    assert plain.schema.field("time").type == pa.int64()
    assert plain.schema.field("u").type == pa.uint64()
    assert plain.to_pylist()[0]["time"] == 1_700_000_000_000_000_001
    assert plain.column("region").to_pylist() == ["eu", None]
