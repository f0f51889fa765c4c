"""What flows through a runtime: call inputs as plugins see them, outcomes, futures."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from engine.batches import TableBatch
from engine.calls import (
    ENTRY_POINTS,
    CallInput,
    CallOutcome,
    cancelled,
    plugin_args,
    positional,
    resolve,
)
from engine.observability import LogEntry
from engine.runlog import REQUEST, SCHEDULE, WAL

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("tick, seen", [
    (datetime(2025, 3, 1, 6, 0, 0, 750_000, tzinfo=UTC), datetime(2025, 3, 1, 6, 0, 0)),
    (datetime(2025, 3, 1, 8, 0, 5, tzinfo=timezone(timedelta(hours=2))),
     datetime(2025, 3, 1, 6, 0, 5)),
], ids=["utc-fraction-dropped", "other-zone-converted"])
def test_call_time_is_naive_utc_whole_seconds(tick: datetime, seen: datetime) -> None:
    call = CallInput(kind=SCHEDULE, scheduled_time=tick)
    assert call.call_time == seen and call.call_time.tzinfo is None
    assert positional(call) == (seen,)


def test_rows_in_counts_every_batch() -> None:
    table = pa.table({"v": [1, 2, 3], "time": pa.array([1, 2, 3], pa.int64())})
    batches = [TableBatch("a", table, list), TableBatch("b", table.slice(0, 1), list)]
    call = CallInput(kind=WAL, table_batches=batches)
    assert call.rows_in == 4
    assert positional(call) == (batches,)
    assert CallInput(kind=WAL).rows_in == 0 and positional(CallInput(kind=WAL)) == ([],)


def test_request_inputs_are_copied_for_the_plugin() -> None:
    params, headers = {"a": "1"}, {"x": "y"}
    call = CallInput(kind=REQUEST, query_parameters=params, headers=headers, body=b"hi")
    given = positional(call)
    assert given == ({"a": "1"}, {"x": "y"}, b"hi")
    assert given[0] is not params and given[1] is not headers


def test_each_call_gets_its_own_args() -> None:
    arguments = {"k": "v"}
    first, second = plugin_args(arguments), plugin_args(arguments)
    assert first == second == arguments and first is not second
    assert plugin_args(None) is None


def test_outcome_log_lines_and_ok() -> None:
    entry = LogEntry(time=T0, database="db", trigger_name="t", level="WARN", message="careful")
    outcome = CallOutcome(status="success", log_entries=[entry])
    assert outcome.ok and outcome.log_lines == ["WARN: careful"]
    assert not cancelled().ok and cancelled().error == "trigger stopped"
    assert cancelled() is not cancelled()  # never a shared, mutable singleton


def test_resolving_twice_keeps_the_first_outcome() -> None:
    future: Future[CallOutcome] = Future()
    resolve(future, CallOutcome(status="success"))
    resolve(future, cancelled())
    assert future.result().status == "success"


def test_entry_points_quote_the_reference_signatures() -> None:
    assert ENTRY_POINTS[SCHEDULE] == (
        "process_scheduled_call", "process_scheduled_call(influxdb3_local, call_time, args=None)")
    assert ENTRY_POINTS[WAL][0] == "process_writes"
    assert ENTRY_POINTS[REQUEST][0] == "process_request"
