"""Specification of start-up recovery: WAL replay after the snapshot, deleted databases."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from engine.catalog import Catalog
from engine.recovery import recover, replay
from engine.tables import TableStore
from engine.wal import OpKind, WalOp, WalRecord, WriteAheadLog

TAG = pa.dictionary(pa.int32(), pa.string())


def rows(*values: int) -> pa.Table:
    return pa.table(
        {
            "host": pa.array(["a"] * len(values)).cast(TAG),
            "v": pa.array(list(values), pa.int64()),
            "time": pa.array(list(values), pa.timestamp("ns")),
        }
    )


def stored(tables: TableStore, db: str) -> list[int]:
    return sorted(tables.arrow(db, "t").column("v").to_pylist())


def test_replay_applies_writes_and_a_deletion_removes_what_came_before(tmp_path: Path) -> None:
    catalog, tables = Catalog(tmp_path), TableStore(tmp_path)
    catalog.create_database("db")
    record = WalRecord(
        1,
        (
            WalOp.write("db", "t", rows(1, 2)),
            WalOp(OpKind.DELETE_DATABASE, "db"),
            WalOp.write("db", "t", rows(3)),
            WalOp.write("gone", "t", rows(9)),
        ),
    )
    assert replay(tables, catalog, record) == rows(1, 2).nbytes + rows(3).nbytes
    assert stored(tables, "db") == [3]
    assert not tables.has_database("gone")


def test_recover_replays_only_records_after_the_snapshot(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.create_database("db")
    tables = TableStore(tmp_path)
    wal = WriteAheadLog(tmp_path / "wal")
    for seq in (1, 2, 3):
        wal.write(seq, [WalOp.write("db", "t", rows(seq))])
        if seq < 3:
            tables.append("db", "t", rows(seq), wal_seq=seq)
    tables.snapshot(up_to_seq=2)
    reopened = TableStore(tmp_path)
    assert recover(reopened, catalog, WriteAheadLog(tmp_path / "wal")) == (3, rows(3).nbytes)
    assert stored(reopened, "db") == [1, 2, 3]


def test_recover_drops_the_data_of_databases_the_catalog_lost(tmp_path: Path) -> None:
    tables = TableStore(tmp_path)
    tables.append("orphan", "t", rows(1), wal_seq=1)
    tables.snapshot(up_to_seq=1)
    reopened = TableStore(tmp_path)
    assert recover(reopened, Catalog(tmp_path), None) == (1, 0)
    assert reopened.databases() == []
