"""Test helpers shared by the table-store and query tests: write line protocol into a TableStore."""

from __future__ import annotations

import pyarrow as pa

from engine.lineprotocol import parse_to_arrow
from engine.schema import check_batch
from engine.tables import TableStore

TAG = pa.dictionary(pa.int32(), pa.string())
TIME = pa.timestamp("ns")


def lp_tables(text: str) -> dict[str, pa.Table]:
    """parse_to_arrow tables (tag columns already carry IOx's tag metadata)."""
    parsed = parse_to_arrow(text, precision="ns", default_time=0)
    assert not parsed.errors, parsed.errors
    return dict(parsed.tables)


def write(store: TableStore, db: str, text: str, seq: int) -> None:
    """What the storage layer does: check each table's rows, then append them."""
    for name, batch in lp_tables(text).items():
        result = check_batch(store.schema(db, name), name, batch)
        assert result.rejected == [], result.rejected
        store.append(db, name, result.accepted, wal_seq=seq)


def typed_rows() -> pa.Table:
    """Two stored rows with every column type, nulls, and text that needs escaping."""
    return pa.table(
        {
            "region": pa.array(["eu", None]).cast(TAG),
            "i": pa.array([-3, None], pa.int64()),
            "u": pa.array([2**64 - 1, 7], pa.uint64()),
            "f": pa.array([1.5, 2.0], pa.float64()),
            "b": pa.array([True, None], pa.bool_()),
            "s": pa.array(['quote " and \\', "é"], pa.string()),
            "time": pa.array([1_700_000_000_000_000_001, 5], TIME),
        }
    )
