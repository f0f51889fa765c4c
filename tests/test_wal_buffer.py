"""Specification of WalBuffer: sequence numbers, in-order persistence, group commit, retries."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from engine.wal import OpKind, WalOp, WalRecord, WriteAheadLog
from engine.wal_buffer import WalBuffer


def op(value: int) -> WalOp:
    rows = pa.table({"v": [value], "time": pa.array([value], pa.timestamp("ns"))})
    return WalOp.write("db", "t", rows)


def make(wal: WriteAheadLog | None, last_seq: int = 0) -> tuple[WalBuffer, list[WalRecord]]:
    durable: list[WalRecord] = []
    lock = threading.RLock()
    return WalBuffer(wal, last_seq, lock, durable.append), durable


def test_operations_get_the_sequence_of_the_record_they_will_be_written_in(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path)
    buffer, durable = make(wal, last_seq=4)
    assert (buffer.add(op(1), 1), buffer.add(op(2), 1), buffer.rows) == (5, 5, 2)
    buffer.persist()
    assert (buffer.durable_seq, buffer.open_seq, buffer.rows) == (5, 6, 0)
    assert [r.seq for r in durable] == [5]
    assert [r.row_count for r in wal.records()] == [2]
    assert buffer.add(WalOp(OpKind.DELETE_DATABASE, "db")) == 6


def test_persisting_nothing_writes_nothing(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    buffer, durable = make(wal)
    buffer.persist()
    buffer.add(op(1), 1)
    buffer.persist(until=1)
    buffer.persist(until=1)
    assert (wal.sequences(), len(durable)) == ([1], 1)


def test_without_a_wal_records_are_durable_in_memory() -> None:
    buffer, durable = make(None)
    buffer.add(op(1), 1)
    buffer.persist()
    assert (buffer.durable_seq, [r.seq for r in durable]) == (1, [1])


def test_a_failed_write_keeps_its_record_and_the_next_persist_writes_in_order(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    wal = WriteAheadLog(wal_dir)
    buffer, durable = make(wal)
    buffer.add(op(1), 1)
    shutil.rmtree(wal_dir)
    wal_dir.write_text("not a directory")
    with pytest.raises(OSError):
        buffer.persist()
    assert buffer.durable_seq == 0
    assert buffer.add(op(2), 1) == 2
    wal_dir.unlink()
    wal_dir.mkdir()
    buffer.persist()
    assert [r.seq for r in durable] == [1, 2]
    assert [[o.rows.column("v")[0].as_py() for o in r.ops if o.rows] for r in wal.records()] == [
        [1],
        [2],
    ]


def test_writers_waiting_together_share_one_record_and_one_fsync(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    buffer, _ = make(wal)
    seqs = [buffer.add(op(i), 1) for i in range(6)]
    with buffer.flush_lock:  # a flush in progress: the writers queue behind it
        writers = [threading.Thread(target=buffer.persist, kwargs={"until": s}) for s in seqs]
        for writer in writers:
            writer.start()
    for writer in writers:
        writer.join()
    assert wal.sequences() == [1]
    (record,) = wal.records()
    assert record.row_count == 6
