"""Specification of WAL subscribers: ordered delivery, catch-up from the WAL, checkpoints."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from engine.subscribers import CheckpointStore, Dispatcher
from engine.wal import OpKind, WalFlush, WalOp, WalRecord, WriteAheadLog


def record(seq: int, *values: int, db: str = "db", table: str = "t") -> WalRecord:
    rows = pa.table(
        {
            "v": pa.array(list(values), pa.int64()),
            "time": pa.array([seq] * len(values), pa.timestamp("ns")),
        }
    )
    return WalRecord(seq, (WalOp.write(db, table, rows),))


class Seen:
    """A subscriber callback that remembers what it was given."""

    def __init__(self) -> None:
        self.flushes: list[WalFlush] = []

    def __call__(self, flush: WalFlush) -> None:
        self.flushes.append(flush)

    @property
    def values(self) -> list[int]:
        return [row["v"] for f in self.flushes for row in f.rows("db", "t")]


def test_checkpoints_survive_reopening_and_names_are_file_safe(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.put("db/trigger one", 7)
    store.put("other", 3)
    reopened = CheckpointStore(tmp_path)
    assert reopened.get("db/trigger one") == 7
    assert reopened.minimum() == 3
    assert reopened.names() == ["db/trigger one", "other"]
    reopened.remove("other")
    assert CheckpointStore(tmp_path).names() == ["db/trigger one"]


def test_an_unreadable_checkpoint_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "half.json.tmp").write_text("{}")
    with caplog.at_level(logging.ERROR, logger="engine.subscribers"):
        store = CheckpointStore(tmp_path)
    assert store.names() == []
    assert "unreadable subscriber checkpoint" in caplog.text
    assert not (tmp_path / "half.json.tmp").exists()


def test_without_a_directory_nothing_is_durable(tmp_path: Path) -> None:
    store = CheckpointStore(None)
    store.put("a", 4)
    assert (store.durable, store.get("a"), store.minimum()) == (False, None, None)


def test_batches_reach_every_subscriber_in_order_as_one_flush_each() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=False)
    first, second = Seen(), Seen()
    dispatcher.subscribe("first", first, durable=False, current_seq=0)
    dispatcher.subscribe("second", second, durable=False, current_seq=0)
    dispatcher.submit([record(1, 10), record(2, 20, 21)], through=2)
    dispatcher.submit([record(3, 30)], through=3)
    assert [(f.first_seq, f.seq) for f in first.flushes] == [(1, 2), (3, 3)]
    assert first.values == second.values == [10, 20, 21, 30]
    assert first.flushes[0] is second.flushes[0]
    assert dispatcher.delivered_through == 3


def test_a_new_subscriber_only_sees_records_after_it_subscribed() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=False)
    seen = Seen()
    dispatcher.subscribe("late", seen, durable=False, current_seq=2)
    dispatcher.submit([record(2, 20), record(3, 30)], through=3)
    assert seen.values == [30]


def test_flushes_without_rows_are_not_delivered_but_advance_the_position() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=False)
    seen = Seen()
    sub = dispatcher.subscribe("s", seen, durable=False, current_seq=0)
    dispatcher.submit([WalRecord(1, (WalOp(OpKind.DELETE_DATABASE, "db"),))], through=1)
    assert (seen.flushes, sub.position) == ([], 1)


def _wal_with(tmp_path: Path, *records: WalRecord) -> WriteAheadLog:
    wal = WriteAheadLog(tmp_path / "wal")
    for rec in records:
        wal.write(rec.seq, rec.ops)
    return wal


def test_a_durable_subscriber_resumes_after_its_checkpoint_from_the_wal(tmp_path: Path) -> None:
    wal = _wal_with(tmp_path, *(record(seq, seq * 10) for seq in range(1, 6)))
    checkpoints = CheckpointStore(tmp_path / "checkpoints")
    checkpoints.put("durable", 2)
    dispatcher = Dispatcher(
        CheckpointStore(tmp_path / "checkpoints"),
        lambda after, through: wal.records(after=after, through=through),
        background=False,
    )
    seen = Seen()
    dispatcher.subscribe("durable", seen, durable=True, current_seq=5)
    assert seen.values == [30, 40, 50]
    wal.write(6, record(6, 60).ops)
    dispatcher.submit([record(6, 60)], through=6)
    assert seen.values == [30, 40, 50, 60]
    assert CheckpointStore(tmp_path / "checkpoints").get("durable") == 6


def test_a_lagging_subscriber_gets_the_gap_then_only_unseen_records(tmp_path: Path) -> None:
    wal = _wal_with(tmp_path, *(record(seq, seq) for seq in range(1, 8)))
    dispatcher = Dispatcher(
        CheckpointStore(tmp_path / "cp"),
        lambda after, through: wal.records(after=after, through=through),
        background=False,
        backlog_rows=2,
    )
    seen = Seen()
    sub = dispatcher.subscribe("lag", seen, durable=True, current_seq=0)
    sub.position = 1
    dispatcher.submit([record(6, 6), record(7, 7)], through=7)
    assert seen.values == [2, 3, 4, 5, 6, 7]
    assert [f.seq for f in seen.flushes] == [3, 5, 7]
    sub.position = 8
    dispatcher.submit([record(8, 8), record(9, 9)], through=9)
    assert seen.values[-1:] == [9]


def test_a_failing_subscriber_is_logged_and_others_still_get_the_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=False)

    def broken(flush: WalFlush) -> None:
        raise RuntimeError("plugin bug")

    seen = Seen()
    bad = dispatcher.subscribe("broken", broken, durable=False, current_seq=0)
    dispatcher.subscribe("good", seen, durable=False, current_seq=0)
    with caplog.at_level(logging.ERROR, logger="engine.subscribers"):
        dispatcher.submit([record(1, 1)], through=1)
    assert seen.values == [1]
    assert bad.position == 1
    assert "WAL subscriber 'broken' failed" in caplog.text


def test_a_name_can_subscribe_only_once_and_forgetting_drops_its_checkpoint(
    tmp_path: Path,
) -> None:
    dispatcher = Dispatcher(CheckpointStore(tmp_path), None, background=False)
    sub = dispatcher.subscribe("one", Seen(), durable=True, current_seq=4)
    assert dispatcher.checkpoints.get("one") == 4
    with pytest.raises(ValueError, match="already subscribed"):
        dispatcher.subscribe("one", Seen(), durable=True, current_seq=4)
    sub.cancel(forget=True)
    assert CheckpointStore(tmp_path).names() == []
    assert dispatcher.subscriptions() == []


def test_the_delivery_thread_keeps_order_and_wait_returns_once_delivered() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=True)
    seen = Seen()
    threads: set[str] = set()

    def callback(flush: WalFlush) -> None:
        threads.add(threading.current_thread().name)
        seen(flush)

    dispatcher.subscribe("s", callback, durable=False, current_seq=0)
    dispatcher.start()
    try:
        for seq in range(1, 51):
            dispatcher.submit([record(seq, seq)], through=seq)
        assert dispatcher.wait(50, timeout=10)
    finally:
        dispatcher.stop()
    assert seen.values == list(range(1, 51))
    assert threads == {"wal-delivery"}


def test_waiting_from_inside_a_callback_does_not_deadlock() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=True)
    answers: list[bool] = []
    dispatcher.subscribe(
        "s", lambda flush: answers.append(dispatcher.wait(flush.seq)), durable=False, current_seq=0
    )
    dispatcher.start()
    try:
        dispatcher.submit([record(1, 1)], through=1)
        assert dispatcher.wait(1, timeout=10)
    finally:
        dispatcher.stop()
    assert answers == [False]


def test_stop_delivers_what_was_queued() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=True)
    seen = Seen()
    dispatcher.subscribe("s", seen, durable=False, current_seq=0)
    dispatcher.start()
    for seq in range(1, 21):
        dispatcher.submit([record(seq, seq)], through=seq)
    dispatcher.stop()
    assert seen.values == list(range(1, 21))


def test_after_resuming_waiting_for_records_already_done_returns_at_once() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=False)
    dispatcher.resume_after(7)
    assert dispatcher.delivered_through == 7
    assert dispatcher.wait(7, timeout=0)
    assert not dispatcher.wait(8, timeout=0)


def test_stopping_a_dispatcher_that_never_started_delivers_in_the_caller() -> None:
    dispatcher = Dispatcher(CheckpointStore(None), None, background=True)
    seen = Seen()
    dispatcher.subscribe("s", seen, durable=False, current_seq=0)
    dispatcher.submit([record(1, 1)], through=1)
    assert seen.values == []
    dispatcher.stop()
    assert seen.values == [1]
