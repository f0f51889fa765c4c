"""Replay: recorded line protocol in batches, and stored rows through a WAL trigger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import Engine, ManualClock
from engine.cache import CacheStore
from engine.dry_run import DryRunner, DryRunServices
from engine.errors import DatabaseNotFound, InvalidReplayRange, NotAWalTrigger, TriggerNotFound
from engine.linebuilder import PLUGIN_BUILTINS
from engine.loader import PluginLoader
from engine.replay import replay_lp, split_lp

S = 1_000_000_000

RECORDER = '''
def process_writes(influxdb3_local, table_batches, args=None):
    calls = influxdb3_local.cache.get("calls", 0) + 1
    influxdb3_local.cache.put("calls", calls)
    for batch in table_batches:
        times = [row["time"] // 1_000_000_000 for row in batch["rows"]]
        influxdb3_local.info(calls, batch["table_name"], times)
        if args and args.get("fail_at") and str(times[0]) == args["fail_at"]:
            raise RuntimeError("failing at " + args["fail_at"])
    influxdb3_local.write_to_db("derived", LineBuilder("seen").int64_field("calls", calls))
'''


@pytest.fixture
def engine(plugin_dir: Path) -> Iterator[Engine]:
    (plugin_dir / "recorder.py").write_text(RECORDER)
    (plugin_dir / "tick.py").write_text(
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n")
    with Engine(plugin_dir, background=False, clock=ManualClock()) as running:
        running.create_database("db")
        yield running


def _messages(engine: Engine, trigger: str = "rec") -> list[str]:
    return [e.message for e in engine.observability.logs_for("db", trigger)
            if not e.message.startswith(("starting", "finished"))]


# --- recorded line protocol ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "size", "chunks"), [
    ("a v=1 1\na v=2 2\na v=3 3\n", 2, ["a v=1 1\na v=2 2\n", "a v=3 3\n"]),
    ("a v=1 1\na v=2 2\n", 2, ["a v=1 1\na v=2 2\n"]),
    ("# header\n\na v=1 1\n   \n# mid\na v=2 2", 1, ["a v=1 1\n", "a v=2 2\n"]),
    ('a s="two\nlines" 1\na v=2 2\n', 1, ['a s="two\nlines" 1\n', "a v=2 2\n"]),
    (b"a v=1 1\n", 10, ["a v=1 1\n"]),
    ("", 3, []),
], ids=["remainder", "exact", "comments-and-blanks", "quoted-newline", "bytes", "empty"])
def test_split_lp_cuts_whole_lines_into_batches(text: str | bytes, size: int,
                                                chunks: list[str]) -> None:
    assert list(split_lp(text, size)) == chunks


def test_split_lp_refuses_empty_batches() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(split_lp("a v=1 1", 0))


def test_a_recorded_file_runs_one_call_per_batch_with_state_carried(plugin_dir: Path) -> None:
    (plugin_dir / "recorder.py").write_text(RECORDER)
    clock = ManualClock()
    with Engine(None, background=False, clock=clock) as running:
        runner = DryRunner(DryRunServices(
            loader=PluginLoader(plugin_dir, builtins=PLUGIN_BUILTINS), caches=CacheStore(clock),
            clock=clock, query=running.query, has_database=lambda db: True))
        recorded = "".join(f"cpu v={i} {i * S}\n" for i in range(1, 6))
        results = replay_lp(runner, "recorder.py", database="db", lp=recorded, batch_lines=2)
    assert [r.log_lines[1] for r in results] == [
        "INFO: 1 cpu [1, 2]", "INFO: 2 cpu [3, 4]", "INFO: 3 cpu [5]"]
    assert [r.database_writes for r in results] == [
        {"derived": [f"seen calls={n}i"]} for n in (1, 2, 3)]


# --- stored rows through a trigger -----------------------------------------------------------

def test_replay_feeds_every_table_in_time_order_in_flush_sized_batches(engine: Engine) -> None:
    engine.write_lp("db", "cpu v=1 1\ncpu v=4 4\nmem v=2 2\nmem v=3 3\ncpu v=5 5\n",
                    precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables", disabled=True)
    result = engine.replay("db", "rec", None, None, batch_rows=2)
    assert (result.batches, result.rows, result.ok) == (3, 5, True)
    assert _messages(engine) == ["1 cpu [1]", "1 mem [2]", "2 cpu [4]", "2 mem [3]", "3 cpu [5]"]


def test_replay_keeps_rows_of_one_timestamp_in_one_batch(engine: Engine) -> None:
    engine.write_lp("db", "cpu,h=a v=1 1\ncpu,h=b v=1 1\nmem v=1 1\ndisk v=1 1\ncpu,h=a v=2 2\n",
                    precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables", disabled=True)
    result = engine.replay("db", "rec", None, None, batch_rows=2)
    assert (result.batches, result.rows) == (2, 5)
    assert _messages(engine) == ["1 cpu [1, 1]", "1 disk [1]", "1 mem [1]", "2 cpu [2]"]


@pytest.mark.parametrize(("start", "end", "expected"), [
    (2 * S, 4 * S, ["1 cpu [2, 3]"]),
    (datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC), None, ["1 cpu [3, 4, 5]"]),
    (None, datetime(1970, 1, 1, 0, 0, 2), ["1 cpu [1]"]),
    (6 * S, None, []),
], ids=["ns-bounds", "aware-start-open-end", "open-start-naive-end", "nothing-in-range"])
def test_replay_takes_rows_with_start_le_time_lt_end(engine: Engine, start: datetime | int | None,
                                                     end: datetime | int | None,
                                                     expected: list[str]) -> None:
    engine.write_lp("db", "".join(f"cpu v={i} {i}\n" for i in range(1, 6)), precision="s")
    engine.write_lp("db", "mem v=1 3", precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="table:cpu", disabled=True)
    result = engine.replay("db", "rec", start, end)
    assert _messages(engine) == expected
    assert result.batches == len(expected)


@pytest.mark.parametrize("apply_writes", [True, False], ids=["applied", "captured-only"])
def test_replay_writes_are_applied_unless_asked_not_to(engine: Engine,
                                                       apply_writes: bool) -> None:
    engine.write_lp("db", "cpu v=1 1\ncpu v=2 2", precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables", disabled=True)
    result = engine.replay("db", "rec", None, None, batch_rows=1, apply_writes=apply_writes)
    assert result.writes == {"derived": ["seen calls=1i", "seen calls=2i"]}
    assert ("derived" in engine.list_databases()) is apply_writes


def test_replay_uses_the_trigger_arguments_and_reports_failures_without_disabling(
        engine: Engine) -> None:
    engine.write_lp("db", "cpu v=1 1\ncpu v=2 2\ncpu v=3 3", precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables",
                          trigger_arguments={"fail_at": "2"},
                          trigger_settings={"error_behavior": "disable"})
    result = engine.replay("db", "rec", None, None, batch_rows=1)
    assert [o.status for o in result.outcomes] == ["success", "error", "success"]
    assert result.errors == ["RuntimeError: failing at 2"]
    assert not result.ok
    assert result.writes == {"derived": ["seen calls=1i", "seen calls=3i"]}
    assert not engine.get_trigger("db", "rec").disabled
    runs = [run.status for run in engine.observability.runs() if run.trigger_name == "rec"]
    assert runs == ["success", "error", "success"]
    assert result.to_dict()["errors"] == ["RuntimeError: failing at 2"]


def test_replay_shares_the_trigger_cache(engine: Engine) -> None:
    engine.write_lp("db", "cpu v=1 1", precision="s")
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables")
    engine.flush()  # the live trigger's call counts as call 1
    engine.replay("db", "rec", None, None)
    assert _messages(engine) == ["1 cpu [1]", "2 cpu [1]"]


@pytest.mark.parametrize(("db", "trigger", "start", "end", "batch_rows", "error"), [
    ("db", "tick", None, None, 10, NotAWalTrigger),
    ("db", "missing", None, None, 10, TriggerNotFound),
    ("nodb", "rec", None, None, 10, DatabaseNotFound),
    ("db", "rec", 5, 5, 10, InvalidReplayRange),
    ("db", "rec", None, None, 0, InvalidReplayRange),
], ids=["schedule-trigger", "unknown-trigger", "unknown-database", "empty-range",
        "zero-batch"])
def test_replay_refuses_what_it_cannot_replay(engine: Engine, db: str, trigger: str,
                                              start: int | None, end: int | None,
                                              batch_rows: int, error: type[Exception]) -> None:
    engine.create_trigger("db", "rec", plugin_filename="recorder.py",
                          trigger_specification="all_tables", disabled=True)
    engine.create_trigger("db", "tick", plugin_filename="tick.py",
                          trigger_specification="every:1h", disabled=True)
    with pytest.raises(error):
        engine.replay(db, trigger, start, end, batch_rows=batch_rows)
