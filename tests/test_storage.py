"""Specification of Storage: the write path, WAL durability and replay, delivery, snapshots."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.errors import (
    DatabaseNotFound,
    DataDirInUse,
    EngineStopped,
    InvalidName,
    WalWriteFailed,
    WriteError,
)
from engine.storage import Storage
from engine.wal import WalFlush, WriteAheadLog

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def memory(clock: ManualClock) -> Iterator[Storage]:
    storage = Storage(None, clock, background=False)
    yield storage
    storage.close()


def open_disk(path: Path, clock: ManualClock, **options: object) -> Storage:
    return Storage(path, clock, background=False, **options)  # type: ignore[arg-type]


def crash(storage: Storage) -> None:
    """Forget `storage` without closing it, as a killed process would: nothing is flushed.

    Only the data directory's lock is given back (the kernel does that for a dead process).
    """
    storage._unlock()


def values(storage: Storage, db: str = "db", table: str = "cpu") -> list[object]:
    return [row["v"] for row in storage.query(db, f'SELECT v FROM "{table}" ORDER BY time')]


def points(first: int, count: int, table: str = "cpu") -> str:
    return "\n".join(f"{table},host=h{i % 3} v={i}i {i + 1}" for i in range(first, first + count))


class Collected:
    """A subscriber callback recording each flush."""

    def __init__(self) -> None:
        self.flushes: list[WalFlush] = []

    def __call__(self, flush: WalFlush) -> None:
        self.flushes.append(flush)

    def values(self, db: str = "db", table: str = "cpu") -> list[object]:
        return [row["v"] for flush in self.flushes for row in flush.rows(db, table)]


# -- the write path -----------------------------------------------------------------------


def test_a_write_is_queryable_at_once_and_reports_each_refused_line(memory: Storage) -> None:
    result = memory.write("db", "cpu,host=a v=1i 1\nnot line protocol\ncpu,host=b v=2i 2\n")
    assert result.lines_written == 2
    assert [(e.line_number, e.original_line) for e in result.errors] == [
        (2, "not line protocol")
    ]
    assert result.errors[0].message
    assert memory.databases() == ["db"]
    assert memory.query("db", "SELECT host, v, time FROM cpu ORDER BY time") == [
        {"host": "a", "v": 1, "time": 1_000_000_000},
        {"host": "b", "v": 2, "time": 2_000_000_000},
    ]


def test_bytes_precision_and_the_clock_decide_timestamps(
    memory: Storage, clock: ManualClock
) -> None:
    memory.write("db", b"cpu v=1i 1700000000\ncpu v=2i", precision="s")
    times = [row["time"] for row in memory.query("db", "SELECT time FROM cpu ORDER BY v")]
    assert times == [1_700_000_000 * 10**9, clock.now_ns()]


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("", "holds no lines"),
        ("# only a comment\n\n", "holds no lines"),
        ("garbage\nmore garbage", "none of its 2 line"),
    ],
    ids=["empty", "comments-only", "all-bad"],
)
def test_a_write_that_stores_nothing_raises(memory: Storage, payload: str, match: str) -> None:
    with pytest.raises(WriteError, match=match):
        memory.write("db", payload)
    assert memory.databases() == []


def test_without_accept_partial_one_bad_line_stores_nothing(memory: Storage) -> None:
    with pytest.raises(WriteError, match="accept_partial is False") as caught:
        memory.write("db", "cpu v=1i 1\ncpu v= 2\n", accept_partial=False)
    assert [e.line_number for e in caught.value.errors] == [2]
    with pytest.raises(DatabaseNotFound):
        memory.query("db", "SELECT * FROM cpu")


@pytest.mark.parametrize(
    ("second", "bad_line"),
    [
        ("cpu,host=a v=2.5 2\ncpu,host=a w=1i 3", 1),
        ('cpu,host=a x=1i 2\ncpu,host=a v="text" 3', 2),
        ("cpu,host=a,v=x w=1i 2\ncpu,host=a w=4i 4", 1),
        ('cpu v=5i 5\ncpu host="as field" 6', 2),
    ],
    ids=["int-then-float", "string-for-int", "field-as-tag", "tag-as-field"],
)
def test_a_line_conflicting_with_the_table_schema_is_refused_with_its_line(
    memory: Storage, second: str, bad_line: int
) -> None:
    memory.write("db", "cpu,host=a v=1i 1")
    result = memory.write("db", second)
    assert result.lines_written == 1
    (error,) = result.errors
    assert error.line_number == bad_line
    assert error.original_line == second.split("\n")[bad_line - 1]
    assert "schema conflict" in error.message


def test_naming_rules_refuse_the_line_or_the_database(memory: Storage) -> None:
    result = memory.write("db", "cpu time=1i 1\ncpu v=1i 2")
    assert [(e.line_number, e.original_line) for e in result.errors] == [(1, "cpu time=1i 1")]
    with pytest.raises(InvalidName):
        memory.write("bad name!", "cpu v=1i 1")


def test_points_with_the_same_series_and_time_merge_last_write_wins(memory: Storage) -> None:
    memory.write("db", "cpu,host=a u=1i,s=1i 10\ncpu,host=b u=7i 10")
    memory.write("db", "cpu,host=a u=3i 10")
    memory.write("db", "cpu,host=a w=5i 10")
    rows = memory.query("db", "SELECT host, u, s, w FROM cpu ORDER BY host")
    assert rows == [
        {"host": "a", "u": 3, "s": 1, "w": 5},
        {"host": "b", "u": 7, "s": None, "w": None},
    ]


def test_databases_are_created_listed_and_deleted(memory: Storage) -> None:
    memory.create_database("empty")
    memory.write("full", "cpu v=1i 1")
    assert memory.databases() == ["empty", "full"]
    memory.delete_database("full")
    assert memory.databases() == ["empty"]
    with pytest.raises(DatabaseNotFound):
        memory.query("full", "SELECT * FROM cpu")
    memory.write("full", "cpu v=2i 2")
    assert values(memory, "full") == [2]


# -- durability ---------------------------------------------------------------------------


def test_a_synchronous_write_is_in_the_wal_before_it_returns(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock)
    storage.write("db", points(0, 3))
    (record,) = WriteAheadLog(tmp_path / "wal").records()
    assert record.row_count == 3
    storage.write("db", points(3, 2), no_sync=True)
    assert len(list(WriteAheadLog(tmp_path / "wal").records())) == 1
    assert values(storage) == [0, 1, 2, 3, 4]
    storage.flush()
    assert len(list(WriteAheadLog(tmp_path / "wal").records())) == 2


def test_a_restart_replays_every_acknowledged_write_exactly_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    first = open_disk(tmp_path, clock)
    first.write("db", points(0, 5))
    first.write("db", points(5, 5, table="mem"))
    first.snapshot()
    first.write("db", points(10, 5))
    crash(first)
    second = open_disk(tmp_path, clock)
    assert values(second) == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]
    assert values(second, table="mem") == [5, 6, 7, 8, 9]
    second.write("db", points(15, 1))
    crash(second)
    assert values(open_disk(tmp_path, clock))[-2:] == [14, 15]


def test_one_storage_at_a_time_may_open_a_data_directory(
    tmp_path: Path, clock: ManualClock
) -> None:
    first = open_disk(tmp_path, clock)
    with pytest.raises(DataDirInUse, match="in use by another engine"):
        open_disk(tmp_path, clock)
    first.write("db", points(0, 1))
    first.close()
    assert values(open_disk(tmp_path, clock)) == [0]


def test_a_snapshot_removes_the_wal_it_covers(tmp_path: Path, clock: ManualClock) -> None:
    storage = open_disk(tmp_path, clock)
    for first in range(0, 9, 3):
        storage.write("db", points(first, 3))
    assert WriteAheadLog(tmp_path / "wal").sequences() == [1, 2, 3]
    assert storage.snapshot() == 3
    assert WriteAheadLog(tmp_path / "wal").sequences() == []
    assert list((tmp_path / "tables").rglob("*.parquet"))


def test_snapshots_start_by_themselves_past_the_size_threshold(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock, snapshot_bytes=1)
    storage.write("db", points(0, 3))
    storage.flush()
    assert storage.tables.persisted_seq() == 1
    assert WriteAheadLog(tmp_path / "wal").sequences() == []


def test_a_torn_wal_tail_is_cut_logged_and_earlier_records_kept(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    storage = open_disk(tmp_path, clock)
    for first in range(0, 9, 3):
        storage.write("db", points(first, 3))
    crash(storage)
    last = WriteAheadLog(tmp_path / "wal").path_of(3)
    last.write_bytes(last.read_bytes()[:-7])
    with caplog.at_level(logging.WARNING, logger="engine.wal"):
        reopened = open_disk(tmp_path, clock)
    assert values(reopened) == [0, 1, 2, 3, 4, 5]
    assert "is damaged" in caplog.text
    reopened.write("db", points(9, 1))
    crash(reopened)
    assert values(open_disk(tmp_path, clock)) == [0, 1, 2, 3, 4, 5, 9]


def test_a_failing_wal_write_refuses_the_write_and_loses_nothing_acknowledged(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock)
    storage.write("db", points(0, 1), no_sync=True)
    wal_dir = tmp_path / "wal"
    shutil.rmtree(wal_dir)
    wal_dir.write_text("a file where the WAL directory was")
    with pytest.raises(WalWriteFailed, match="not acknowledged"):
        storage.write("db", points(1, 1))
    storage.tick()  # a failed timer flush is logged, not raised
    assert values(storage) == [0, 1]
    wal_dir.unlink()
    wal_dir.mkdir()
    storage.write("db", points(2, 1))
    crash(storage)
    assert values(open_disk(tmp_path, clock)) == [0, 1, 2]


def test_concurrent_synchronous_writers_all_land_once(tmp_path: Path, clock: ManualClock) -> None:
    storage = open_disk(tmp_path, clock)
    writers = [
        threading.Thread(target=storage.write, args=("db", points(i * 10, 10))) for i in range(8)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sum(r.row_count for r in WriteAheadLog(tmp_path / "wal").records()) == 80
    crash(storage)
    assert values(open_disk(tmp_path, clock)) == list(range(80))


def test_a_deleted_database_stays_deleted_after_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock)
    storage.write("db", points(0, 3))
    storage.delete_database("db")
    storage.write("db", points(7, 1))
    crash(storage)
    assert values(open_disk(tmp_path, clock)) == [7]


def test_the_buffer_is_persisted_when_it_reaches_its_size_threshold(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock, max_buffer_rows=5)
    storage.write("db", points(0, 4), no_sync=True)
    assert WriteAheadLog(tmp_path / "wal").sequences() == []
    storage.write("db", points(4, 2), no_sync=True)
    assert WriteAheadLog(tmp_path / "wal").sequences() == [1]


# -- subscribers --------------------------------------------------------------------------


def test_flush_hands_subscribers_the_rows_grouped_by_database_and_table(
    memory: Storage,
) -> None:
    seen = Collected()
    memory.subscribe("s", seen)
    memory.write("db", 'cpu,host=a v=1i,s="x" 1\nmem,host=b f=0.5 2')
    memory.write("other", "cpu v=3i 3")
    assert seen.flushes == []
    memory.flush()
    (flush,) = seen.flushes
    assert flush.databases == ["db", "other"]
    assert flush.rows("db", "cpu") == [{"host": "a", "v": 1, "s": "x", "time": 1_000_000_000}]
    assert flush.rows("db", "mem") == [{"host": "b", "f": 0.5, "time": 2_000_000_000}]
    assert flush.tables("other")["cpu"].num_rows == 1
    memory.flush()
    assert len(seen.flushes) == 1


def test_deliveries_follow_the_flush_interval_not_each_durable_write(
    tmp_path: Path, clock: ManualClock
) -> None:
    seen = Collected()
    with Storage(tmp_path, clock, flush_interval=1.0, background=True) as storage:
        storage.subscribe("s", seen)
        for first in range(0, 10, 2):
            storage.write("db", points(first, 2))
        assert len(WriteAheadLog(tmp_path / "wal").sequences()) == 5
        assert seen.flushes == []
        clock.advance(1.0)
        deadline = time.monotonic() + 10
        while not seen.flushes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(f.first_seq, f.seq) for f in seen.flushes] == [(1, 5)]
        assert seen.values() == list(range(10))


def test_a_durable_subscriber_gets_unprocessed_writes_after_a_crash(
    tmp_path: Path, clock: ManualClock
) -> None:
    first = open_disk(tmp_path, clock)
    before = Collected()
    first.subscribe("trigger", before)
    first.write("db", points(0, 2))
    first.flush()
    first.write("db", points(2, 2))
    first.snapshot()
    crash(first)  # before delivering the second write
    second = open_disk(tmp_path, clock)
    after = Collected()
    second.subscribe("trigger", after)
    assert before.values() == [0, 1]
    assert after.values() == [2, 3]
    second.write("db", points(4, 1))
    second.flush()
    assert after.values() == [2, 3, 4]
    assert WriteAheadLog(tmp_path / "wal").sequences() == [3]


def test_checkpoints_hold_back_wal_removal_until_forgotten(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock)
    storage.subscribe("slow", Collected())
    storage.unsubscribe("slow")
    storage.write("db", points(0, 2))
    storage.snapshot()
    assert WriteAheadLog(tmp_path / "wal").sequences() == [1]
    storage.unsubscribe("slow", forget=True)
    storage.flush()
    assert WriteAheadLog(tmp_path / "wal").sequences() == []


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_flush_after_a_restart_returns_when_nothing_is_left_to_deliver(
    tmp_path: Path, clock: ManualClock, background: bool
) -> None:
    with Storage(tmp_path, clock, background=background) as first:
        first.subscribe("s", Collected())
        first.write("db", points(0, 2))
    seen = Collected()
    with Storage(tmp_path, clock, background=background) as second:
        second.subscribe("s", seen)
        flusher = threading.Thread(target=second.flush, daemon=True)
        flusher.start()
        flusher.join(10)
        assert not flusher.is_alive(), "flush() waited for a delivery that was already done"
    assert seen.flushes == []


def test_writes_made_by_subscribers_during_close_are_kept_and_later_ones_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    storage = open_disk(tmp_path, clock)

    def echo(flush: WalFlush) -> None:
        for row in flush.rows("db", "cpu"):
            storage.write("db", f"echo v={row['v']}i {row['time']}", no_sync=True)

    storage.subscribe("echo", echo)
    storage.write("db", points(0, 2), no_sync=True)
    storage.close()
    with pytest.raises(EngineStopped, match="cannot write"):
        storage.write("db", points(2, 1))
    assert values(open_disk(tmp_path, clock), table="echo") == [0, 1]


def test_a_non_durable_subscriber_keeps_no_checkpoint(tmp_path: Path, clock: ManualClock) -> None:
    storage = open_disk(tmp_path, clock)
    seen = Collected()
    storage.subscribe("s", seen, durable=False)
    storage.write("db", points(0, 1))
    storage.flush()
    assert seen.values() == [0]
    assert list((tmp_path / "checkpoints").iterdir()) == []
