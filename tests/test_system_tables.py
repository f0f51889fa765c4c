"""The system.* tables, queried with SQL through Engine.query in every database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ManualClock
from engine.system_tables import (
    ARGUMENTS_SCHEMA,
    LOGS_SCHEMA,
    PLUGIN_FILES_SCHEMA,
    RUNS_SCHEMA,
    TRIGGERS_SCHEMA,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NS = 1_000_000_000

SCHEDULE = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("tick", call_time.isoformat())
    influxdb3_local.write(LineBuilder("out").int64_field("n", 1))
"""
WAL = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        influxdb3_local.warn("rows", batch["table_name"], len(batch["rows"]))
"""
REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True}
"""


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    (plugin_dir / "schedule.py").write_text(SCHEDULE)
    (plugin_dir / "wal.py").write_text(WAL)
    (plugin_dir / "request.py").write_text(REQUEST)
    package = plugin_dir / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub.impl import process_writes\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "impl.py").write_text(WAL)
    return plugin_dir


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(plugins: Path, clock: ManualClock) -> Any:
    with Engine(plugins, clock=clock, background=False) as engine:
        engine.create_database("db")
        engine.create_database("other")
        yield engine


def _columns(engine: Engine, table: str, db: str = "db") -> list[str]:
    return list(engine.query_arrow(db, f"SELECT * FROM system.{table}").schema.names)


@pytest.mark.parametrize("table, schema", [
    ("processing_engine_triggers", TRIGGERS_SCHEMA),
    ("processing_engine_trigger_arguments", ARGUMENTS_SCHEMA),
    ("processing_engine_logs", LOGS_SCHEMA),
    ("processing_engine_runs", RUNS_SCHEMA),
    ("plugin_files", PLUGIN_FILES_SCHEMA),
], ids=["triggers", "arguments", "logs", "runs", "plugin-files"])
def test_every_table_exists_in_every_database_even_when_empty(engine: Engine, table: str,
                                                              schema: Any) -> None:
    for db in ("db", "other"):
        result = engine.query_arrow(db, f"SELECT * FROM system.{table}")
        assert result.num_rows == 0
        assert result.schema.names == schema.names


def test_triggers_table_shows_each_databases_own_triggers(engine: Engine) -> None:
    engine.create_trigger("db", "every", plugin_filename="schedule.py",
                          trigger_specification="every:90s",
                          trigger_settings={"run_async": True, "error_behavior": "RETRY",
                                            "timezone": "Europe/Paris", "timeout": 5})
    engine.create_trigger("db", "cron", plugin_filename="schedule.py",
                          trigger_specification="cron:  0  0 6 *\t* 1-5 ", disabled=True)
    engine.create_trigger("other", "wal", plugin_filename="pkg",
                          trigger_specification="table:cpu", node_spec="all")
    rows = engine.query("db", "SELECT * FROM system.processing_engine_triggers "
                              "ORDER BY trigger_name")
    assert [r["trigger_name"] for r in rows] == ["cron", "every"]
    cron, every = rows
    assert cron["database_name"] == "db" and cron["plugin_filename"] == "schedule.py"
    assert cron["trigger_specification"] == "cron:0 0 6 * * 1-5"
    assert cron["disabled"] is True and cron["disabled_reason"] is None
    assert every["trigger_specification"] == "every:1m30s"
    assert every["error_behavior"] == "retry" and every["run_async"] is True
    settings = json.loads(every["trigger_settings"])
    assert settings["timezone"] == "Europe/Paris" and settings["timeout"] == 5
    assert settings["catch_up"] == "all" and settings["max_retries"] == 5
    other = engine.query("other", "SELECT trigger_name, database_name, trigger_specification "
                                  "FROM system.processing_engine_triggers")
    assert other == [{"trigger_name": "wal", "database_name": "other",
                      "trigger_specification": "table:cpu"}]


def test_triggers_table_shows_why_the_engine_disabled_a_trigger(engine: Engine,
                                                                  plugins: Path,
                                                                  clock: ManualClock) -> None:
    (plugins / "bad.py").write_text(
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\n"
        "    raise KeyError('gone')\n")
    engine.create_trigger("db", "bad", plugin_filename="bad.py",
                          trigger_specification="every:1s",
                          trigger_settings={"error_behavior": "disable"})
    clock.advance(1)
    engine.run_pending()
    rows = engine.query("db", "SELECT disabled, disabled_reason "
                              "FROM system.processing_engine_triggers")
    assert rows == [{"disabled": True, "disabled_reason": "disabled after error: KeyError: 'gone'"}]


def test_arguments_table_has_one_row_per_argument(engine: Engine) -> None:
    engine.create_trigger("db", "a", plugin_filename="schedule.py",
                          trigger_specification="every:1h",
                          trigger_arguments={"window": "5m", "target": "rollup"})
    engine.create_trigger("db", "none", plugin_filename="schedule.py",
                          trigger_specification="every:1h")
    engine.create_trigger("other", "b", plugin_filename="schedule.py",
                          trigger_specification="every:1h", trigger_arguments={"x": "1"})
    rows = engine.query("db", "SELECT * FROM system.processing_engine_trigger_arguments "
                              "ORDER BY argument_key")
    assert rows == [
        {"trigger_name": "a", "argument_key": "target", "argument_value": "rollup"},
        {"trigger_name": "a", "argument_key": "window", "argument_value": "5m"},
    ]


def test_logs_table_holds_plugin_and_framework_lines_in_every_database(
        engine: Engine, clock: ManualClock) -> None:
    engine.create_trigger("db", "s", plugin_filename="schedule.py",
                          trigger_specification="every:10s")
    clock.advance(10)
    engine.run_pending()
    for db in ("db", "other"):
        rows = engine.query(db, "SELECT event_time, database_name, trigger_name, log_level, "
                                "log_text, traceback FROM system.processing_engine_logs")
        assert [r["log_text"] for r in rows][:2] == [
            "starting execution with scheduled time 2025-01-01 00:00:10 UTC",
            "tick 2025-01-01T00:00:10"]
        assert rows[2]["log_text"].startswith("finished execution in ")
        assert {(r["database_name"], r["trigger_name"], r["log_level"]) for r in rows} == {
            ("db", "s", "INFO")}
        assert rows[0]["event_time"] == 1_735_689_610 * NS
        assert rows[0]["traceback"] is None


def test_logs_table_is_bounded_by_the_log_buffer_size(plugins: Path,
                                                      clock: ManualClock) -> None:
    with Engine(plugins, clock=clock, background=False, log_buffer_size=4) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "s", plugin_filename="schedule.py",
                              trigger_specification="every:1s")
        clock.advance(3)
        assert engine.run_pending() == 3
        rows = engine.query("db", "SELECT log_text FROM system.processing_engine_logs")
    assert len(rows) == 4
    assert rows[-2]["log_text"] == "tick 2025-01-01T00:00:03"


def test_runs_table_records_every_kind(engine: Engine, clock: ManualClock) -> None:
    engine.create_trigger("db", "s", plugin_filename="schedule.py",
                          trigger_specification="every:10s")
    engine.create_trigger("db", "w", plugin_filename="wal.py",
                          trigger_specification="table:cpu")
    engine.create_trigger("db", "r", plugin_filename="request.py",
                          trigger_specification="request:hello")
    engine.write_lp("db", "cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem v=3 3")
    engine.flush()
    clock.advance(10)
    engine.run_pending()
    clock.advance(1)
    assert engine.handle_request("hello").status == 200
    assert engine.handle_request("hello", query_params={"fail": "1"}).status == 500
    rows = engine.query("other", "SELECT * FROM system.processing_engine_runs "
                                 "WHERE database_name = 'db' ORDER BY start_time, status DESC")
    summary = [(r["trigger_name"], r["kind"], r["status"], r["attempts"], r["rows_in"],
                r["lines_written"]) for r in rows]
    assert summary == [("w", "wal", "success", 1, 2, 0),
                       ("s", "schedule", "success", 1, 0, 1),
                       ("r", "request", "success", 1, 0, 0),
                       ("r", "request", "error", 1, 0, 0)]
    wal, schedule, _, failed = rows
    assert wal["scheduled_time"] is None and wal["start_time"] == int(T0.timestamp()) * NS
    assert schedule["scheduled_time"] == schedule["start_time"] == (
        int((T0 + timedelta(seconds=10)).timestamp()) * NS)
    assert all(r["duration_ms"] >= 0 and r["timed_out"] is False for r in rows)
    assert failed["error"] == "RuntimeError: asked to fail"
    assert "RuntimeError: asked to fail" in failed["traceback"]


def test_runs_table_answers_sql_aggregates(engine: Engine, clock: ManualClock) -> None:
    engine.create_trigger("db", "s", plugin_filename="schedule.py",
                          trigger_specification="every:1s")
    clock.advance(5)
    engine.run_pending()
    rows = engine.query("db", "SELECT trigger_name, count(*) AS runs, max(scheduled_time) AS last "
                              "FROM system.processing_engine_runs GROUP BY trigger_name")
    assert rows == [{"trigger_name": "s", "runs": 5, "last": int(T0.timestamp() + 5) * NS}]


def test_plugin_files_lists_single_files_and_package_files(engine: Engine,
                                                           plugins: Path) -> None:
    engine.create_trigger("db", "single", plugin_filename="wal.py",
                          trigger_specification="all_tables")
    engine.create_trigger("other", "package", plugin_filename="pkg",
                          trigger_specification="all_tables")
    rows = engine.query("db", "SELECT plugin_name, file_name, file_path, size_bytes "
                              "FROM system.plugin_files ORDER BY plugin_name, file_name")
    assert [(r["plugin_name"], r["file_name"]) for r in rows] == [
        ("package", "__init__.py"), ("package", "sub/__init__.py"), ("package", "sub/impl.py"),
        ("single", "wal.py")]
    single = rows[-1]
    assert single["file_path"] == str((plugins / "wal.py").resolve())
    assert single["size_bytes"] == len(WAL.encode())
