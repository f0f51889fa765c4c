"""Specification of the write-ahead log: framing, durability files, damage handling, flushes."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest
from store_support import TIME, typed_rows

from engine.wal import (
    FILE_MAGIC,
    TMP_SUFFIX,
    OpKind,
    WalFlush,
    WalOp,
    WalRecord,
    WriteAheadLog,
    coalesce,
    decode_file,
    decode_op,
    encode_op,
)


def cpu_rows(hosts: list[str], values: list[float | None], start: int = 1) -> pa.Table:
    return pa.table(
        {
            "host": pa.array(hosts).dictionary_encode(),
            "usage": pa.array(values, pa.float64()),
            "time": pa.array(range(start, start + len(hosts)), TIME),
        }
    )


@pytest.mark.parametrize(
    "op",
    [
        WalOp.write("db", "cpu", cpu_rows(["a", "b"], [1.0, 2.0])),
        WalOp.write("db", "typed", typed_rows()),
        WalOp.write("db", "empty", cpu_rows([], [])),
        WalOp(OpKind.CREATE_DATABASE, "db"),
        WalOp(OpKind.DELETE_DATABASE, "other-db"),
    ],
    ids=["write", "every-type", "no-rows", "create-db", "delete-db"],
)
def test_an_op_survives_encoding(op: WalOp) -> None:
    back = decode_op(encode_op(op))
    assert (back.kind, back.db, back.table) == (op.kind, op.db, op.table)
    if op.rows is None:
        assert back.rows is None
    else:
        assert back.rows is not None
        assert back.rows.equals(op.rows)
        assert back.rows.schema.metadata is None


def test_records_read_back_in_sequence_order_after_reopening(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    first = [WalOp(OpKind.CREATE_DATABASE, "db"), WalOp.write("db", "cpu", cpu_rows(["a"], [1]))]
    wal.write(3, first)
    wal.write(7, [WalOp.write("db", "mem", typed_rows())])
    reopened = WriteAheadLog(tmp_path)
    assert reopened.last_seq == 7
    records = list(reopened.records())
    assert [r.seq for r in records] == [3, 7]
    assert [(op.kind, op.table) for op in records[0].ops] == [
        (OpKind.CREATE_DATABASE, ""),
        (OpKind.WRITE, "cpu"),
    ]
    assert records[1].row_count == 2
    assert [r.seq for r in reopened.records(after=3)] == [7]
    assert [r.seq for r in reopened.records(through=3)] == [3]


def test_a_sequence_number_must_grow(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(5, [WalOp(OpKind.CREATE_DATABASE, "db")])
    with pytest.raises(ValueError, match="not above the last one written"):
        wal.write(5, [WalOp(OpKind.CREATE_DATABASE, "db")])


def test_writes_to_one_table_are_coalesced_into_one_frame_per_record(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    ops = [WalOp.write("db", "cpu", cpu_rows(["a"], [1.0], start=i)) for i in range(50)]
    wal.write(1, ops)
    (record,) = wal.records()
    assert len(record.ops) == 1
    assert record.ops[0].rows is not None
    assert record.ops[0].rows.column("time").cast(pa.int64()).to_pylist() == list(range(50))


def test_unfinished_temporary_files_are_removed_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    WriteAheadLog(tmp_path).write(1, [WalOp(OpKind.CREATE_DATABASE, "db")])
    leftover = tmp_path / f"{2:020d}{TMP_SUFFIX}"
    leftover.write_bytes(FILE_MAGIC + b"half")
    with caplog.at_level(logging.WARNING, logger="engine.wal"):
        wal = WriteAheadLog(tmp_path)
    assert not leftover.exists()
    assert wal.last_seq == 1
    assert "unfinished WAL file" in caplog.text


def _two_frame_file(tmp_path: Path) -> tuple[WriteAheadLog, Path, int]:
    wal = WriteAheadLog(tmp_path)
    ops = [WalOp.write("db", "cpu", cpu_rows(["a"], [1.0])), WalOp.write("db", "mem", typed_rows())]
    wal.write(1, ops)
    path = wal.path_of(1)
    first_frame_end = len(FILE_MAGIC) + 16 + encode_op(ops[0]).size
    return wal, path, first_frame_end


def _damage(data: bytes, how: str, first_end: int) -> bytes:
    if how == "torn-body":
        return data[:-10]
    if how == "torn-header":
        return data[: first_end + 5]
    if how == "flipped-byte":
        return data[:-20] + bytes([data[-20] ^ 0xFF]) + data[-19:]
    if how == "garbage-appended":
        return data + b"\x00garbage"
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "kept_tables"),
    [
        ("torn-body", ["cpu"]),
        ("torn-header", ["cpu"]),
        ("flipped-byte", ["cpu"]),
        ("garbage-appended", ["cpu", "mem"]),
    ],
    ids=["torn-body", "torn-header", "flipped-byte", "garbage-appended"],
)
def test_a_damaged_tail_is_cut_at_the_last_complete_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str, kept_tables: list[str]
) -> None:
    wal, path, first_end = _two_frame_file(tmp_path)
    intact = path.read_bytes()
    path.write_bytes(_damage(intact, how, first_end))
    with caplog.at_level(logging.WARNING, logger="engine.wal"):
        (record,) = wal.records()
    assert [op.table for op in record.ops] == kept_tables
    assert "is damaged" in caplog.text
    assert intact.startswith(path.read_bytes())
    assert decode_file(path.read_bytes()).problem is None


@pytest.mark.parametrize(
    "content", [b"", b"PEW", b"not a wal file at all"], ids=["empty", "short", "foreign"]
)
def test_a_file_without_its_header_yields_nothing_and_is_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(1, [WalOp(OpKind.CREATE_DATABASE, "db")])
    wal.path_of(2).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="engine.wal"):
        records = list(WriteAheadLog(tmp_path).records())
    assert [(r.seq, len(r.ops)) for r in records] == [(1, 1), (2, 0)]
    assert "missing or damaged file header" in caplog.text


def test_remove_through_deletes_only_older_records(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    for seq in (1, 2, 5, 9):
        wal.write(seq, [WalOp(OpKind.CREATE_DATABASE, "db")])
    assert wal.remove_through(5) == 3
    assert wal.sequences() == [9]
    assert wal.last_seq == 9


def test_coalesce_keeps_database_ops_as_barriers_and_promotes_new_columns() -> None:
    wide = cpu_rows(["c"], [3.0], start=3).append_column("extra", pa.array([1], pa.int64()))
    ops = [
        WalOp.write("db", "cpu", cpu_rows(["a"], [1.0])),
        WalOp.write("db", "mem", cpu_rows(["m"], [9.0])),
        WalOp.write("db", "cpu", wide),
        WalOp(OpKind.DELETE_DATABASE, "db"),
        WalOp.write("db", "cpu", cpu_rows(["z"], [0.0])),
    ]
    merged = coalesce(ops)
    assert [(op.kind, op.table) for op in merged] == [
        (OpKind.WRITE, "cpu"),
        (OpKind.WRITE, "mem"),
        (OpKind.DELETE_DATABASE, ""),
        (OpKind.WRITE, "cpu"),
    ]
    first = merged[0].rows
    assert first is not None
    assert first.column_names == ["host", "usage", "time", "extra"]
    assert first.column("extra").to_pylist() == [None, 1]


def test_a_flush_merges_records_per_database_and_table_in_write_order() -> None:
    records = [
        WalRecord(4, (WalOp.write("a", "cpu", cpu_rows(["x"], [1.0], start=1)),)),
        WalRecord(
            5,
            (
                WalOp(OpKind.CREATE_DATABASE, "b"),
                WalOp.write("b", "mem", cpu_rows(["y"], [2.0])),
                WalOp.write("a", "cpu", cpu_rows(["z"], [3.0], start=2)),
            ),
        ),
    ]
    flush = WalFlush.from_records(records)
    assert (flush.first_seq, flush.seq, flush.row_count) == (4, 5, 3)
    assert flush.databases == ["a", "b"]
    assert flush.rows("a", "cpu") == [
        {"host": "x", "usage": 1.0, "time": 1},
        {"host": "z", "usage": 3.0, "time": 2},
    ]
    assert flush.rows("a", "cpu") is flush.rows("a", "cpu")
    assert flush.rows("a", "missing") == []
    assert flush.tables("nope") == {}
    plain = flush.plain("a", "cpu")
    assert plain is not None
    assert plain.schema.types == [pa.string(), pa.float64(), pa.int64()]
    assert flush.plain("a", "cpu") is plain
    assert flush.plain("a", "missing") is None
    assert flush.table_batches("b") == [
        {"table_name": "mem", "rows": [{"host": "y", "usage": 2.0, "time": 1}]}
    ]


def test_a_flush_needs_a_record() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        WalFlush.from_records([])
