"""Test helpers shared by the table-store and query tests: write line protocol into a TableStore."""

from __future__ import annotations

import pyarrow as pa

from engine.lineprotocol import parse_to_arrow
from engine.schema import check_batch
from engine.tables import TableStore


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
