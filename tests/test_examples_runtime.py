"""The plugins in plugins_examples/, run end to end through an Engine on the real files."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from engine import Engine, ManualClock

EXAMPLES = REPO_ROOT / "plugins_examples"
ENTRY_POINTS = {"onwrite": "process_writes", "scheduled": "process_scheduled_call",
                "http": "process_request"}
# The examples of this file; the others in plugins_examples/ have their own tests.
MINE = {
    "wal_table_counter.py": ["wal_table_counter.py"],
    "http_echo.py": ["http_echo.py"],
    "threshold_alerts": ["threshold_alerts/__init__.py", "threshold_alerts/rules.py"],
    "cache_state.py": ["cache_state.py"],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 1, 1, tzinfo=UTC))


@pytest.fixture
def engine(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("PLUGIN_DIR", str(EXAMPLES))
    with Engine(EXAMPLES, background=False, clock=clock) as eng:
        eng.create_database("db")
        yield eng


def plugin_logs(engine: Engine, trigger: str, level: str | None = None) -> list[str]:
    return [e.message for e in engine.observability.logs_for("db", trigger)
            if (level is None or e.level == level)
            and not e.message.startswith(("starting execution", "finished execution"))]


def flush_twice(engine: Engine) -> None:
    """Flush, then flush what the plugins wrote (their writes come back as a later flush)."""
    engine.flush()
    engine.flush()


# --- metadata ---------------------------------------------------------------------------------

def _metadata(entry: Path) -> dict[str, Any]:
    docstring = ast.get_docstring(ast.parse(entry.read_text()))
    assert docstring is not None, f"{entry} has no metadata docstring"
    metadata: dict[str, Any] = json.loads(docstring)
    return metadata


def _arguments_read(paths: list[Path]) -> set[str]:
    """Names read as args["x"] or args.get("x") in the plugin's code."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                    and node.value.id == "args" and isinstance(node.slice, ast.Constant)):
                names.add(node.slice.value)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "args" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


@pytest.mark.parametrize("example", sorted(MINE))
def test_each_example_documents_its_type_and_every_argument_it_reads(example: str) -> None:
    files = [EXAMPLES / name for name in MINE[example]]
    metadata = _metadata(files[0])
    tree = ast.parse(files[0].read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert metadata["plugin_type"]
    for kind in metadata["plugin_type"]:
        assert ENTRY_POINTS[kind] in defined
        for argument in metadata.get(f"{kind}_args_config", []):
            assert set(argument) >= {"name", "example", "description", "required"}
    declared = {a["name"] for kind in metadata["plugin_type"]
                for a in metadata.get(f"{kind}_args_config", [])}
    assert _arguments_read(files) == declared


# --- wal_table_counter ------------------------------------------------------------------------

def test_wal_table_counter_counts_rows_and_columns_per_table(engine: Engine) -> None:
    engine.create_trigger("db", "counter", plugin_filename="wal_table_counter.py",
                          trigger_specification="all_tables")
    engine.write_lp("db", "cpu,host=a usage=1 1\ncpu,host=b usage=2,idle=3 2\nmem,host=a used=5i 3")
    flush_twice(engine)
    engine.flush()
    assert engine.query("db", "SELECT table_name, rows, columns FROM table_counts "
                              "ORDER BY table_name") == [
        {"table_name": "cpu", "rows": 2, "columns": 4},
        {"table_name": "mem", "rows": 1, "columns": 3},
    ]
    # Its own writes came back in the second flush and were not counted.
    assert plugin_logs(engine, "counter") == ["counted 3 rows in 2 table batch(es)",
                                              "counted 0 rows in 1 table batch(es)"]


def test_wal_table_counter_filters_tables_and_writes_elsewhere(engine: Engine) -> None:
    engine.create_trigger(
        "db", "counter", plugin_filename="wal_table_counter.py",
        trigger_specification="all_tables",
        trigger_arguments={"tables": "cpu.disk", "output_table": "seen",
                           "target_database": "monitoring"},
    )
    engine.write_lp("db", "cpu v=1 1\nmem v=2 2\ndisk v=3 3")
    flush_twice(engine)
    assert engine.query("monitoring", "SELECT table_name, rows FROM seen ORDER BY table_name") == [
        {"table_name": "cpu", "rows": 1}, {"table_name": "disk", "rows": 1}]


# --- http_echo --------------------------------------------------------------------------------

def test_http_echo_echoes_what_the_plugin_receives(engine: Engine) -> None:
    engine.create_trigger("db", "echo", plugin_filename="http_echo.py",
                          trigger_specification="request:echo",
                          trigger_arguments={"greeting": "hello"})
    response = engine.handle_request(
        "echo", method="POST", query_params={"status": "201", "q": "x"},
        headers={"Content-Type": "application/json", "Authorization": "Bearer t"},
        body=b'{"a": [1, 2]}')
    assert response.status == 201
    assert response.header("x-echo") == "1"
    assert response.json() == {
        "query_parameters": {"status": "201", "q": "x"},
        "body": {"a": [1, 2]},
        "body_bytes": 13,
        "headers": {"content-type": "application/json"},
        "greeting": "hello",
    }
    assert plugin_logs(engine, "echo") == ["echoed 13 body bytes with status 201"]


def test_http_echo_decodes_text_bodies_and_can_leave_headers_out(engine: Engine) -> None:
    engine.create_trigger("db", "echo", plugin_filename="http_echo.py",
                          trigger_specification="request:echo",
                          trigger_arguments={"include_headers": "false"})
    response = engine.handle_request("echo", method="POST", headers={"X-A": "1"},
                                     body=b"not json \xff")
    assert response.status == 200
    assert response.json() == {"query_parameters": {}, "body": "not json \ufffd",
                               "body_bytes": 10}
    bad = engine.handle_request("echo", query_params={"status": "teapot"})
    assert bad.status == 500
    assert "ValueError" in bad.json()["error"]


# --- threshold_alerts (a directory plugin with a relative import) -----------------------------

def test_threshold_alerts_writes_one_alert_per_breach(engine: Engine) -> None:
    engine.create_trigger(
        "db", "alerts", plugin_filename="threshold_alerts", trigger_specification="all_tables",
        trigger_arguments={"rules": "temp>30-WARN:temp>=40-CRITICAL:humidity<20",
                           "measurement": "sensors"},
    )
    engine.write_lp("db", "\n".join([
        "sensors,room=a temp=25.0,humidity=50 1",
        "sensors,room=b temp=35.5,humidity=10 2",
        "sensors,room=c temp=41.0 3",
        "other,room=d temp=99.0 4",
    ]), precision="s")
    flush_twice(engine)
    rows = engine.query("db", "SELECT source, field, level, value, threshold, rule, time "
                              "FROM alerts ORDER BY time, rule")
    assert rows == [
        {"source": "sensors", "field": "humidity", "level": "WARN", "value": 10.0,
         "threshold": 20.0, "rule": "humidity<20", "time": 2_000_000_000},
        {"source": "sensors", "field": "temp", "level": "WARN", "value": 35.5,
         "threshold": 30.0, "rule": "temp>30-WARN", "time": 2_000_000_000},
        {"source": "sensors", "field": "temp", "level": "WARN", "value": 41.0,
         "threshold": 30.0, "rule": "temp>30-WARN", "time": 3_000_000_000},
        {"source": "sensors", "field": "temp", "level": "CRITICAL", "value": 41.0,
         "threshold": 40.0, "rule": "temp>=40-CRITICAL", "time": 3_000_000_000},
    ]
    assert plugin_logs(engine, "alerts", "WARN") == ["4 threshold breach(es)"]


@pytest.mark.parametrize(("rules", "fragment"), [
    pytest.param("temp=>30", "bad rule 'temp=>30'", id="bad-operator"),
    pytest.param("temp>30-LOUD", "LEVEL one of INFO, WARN, ERROR, CRITICAL", id="bad-level"),
    pytest.param("temp>1.2.3", "'1.2.3' is not a number", id="bad-number"),
    pytest.param("", "no rules given", id="no-rules"),
])
def test_threshold_alerts_reports_bad_rules(engine: Engine, rules: str, fragment: str) -> None:
    engine.create_trigger("db", "alerts", plugin_filename="threshold_alerts",
                          trigger_specification="all_tables", trigger_arguments={"rules": rules})
    engine.write_lp("db", "sensors temp=50.0 1")
    flush_twice(engine)
    [error] = plugin_logs(engine, "alerts", "ERROR")
    assert error.startswith("error executing wal plugin: ValueError:")
    assert fragment in error
    assert "alerts" not in [r["table_name"] for r in engine.query("db", "SHOW TABLES")]


# --- cache_state --------------------------------------------------------------------------------

def _stats(engine: Engine) -> list[dict[str, Any]]:
    return engine.query("db", "SELECT series, count, mean, stddev, min, max FROM running_stats "
                              "ORDER BY time, series")


def test_cache_state_keeps_running_statistics_across_flushes(
    engine: Engine, clock: ManualClock,
) -> None:
    engine.create_trigger("db", "stats", plugin_filename="cache_state.py",
                          trigger_specification="table:sensors",
                          trigger_arguments={"field": "temp"})
    engine.write_lp("db", "sensors,room=a temp=10.0 1\nsensors,room=a temp=20.0 2\n"
                          "sensors,room=b temp=5.0 3\nsensors,room=b humidity=1.0 4")
    flush_twice(engine)
    clock.advance(1)  # the statistics rows carry the write time
    engine.write_lp("db", "sensors,room=a temp=30.0 5\nsensors,room=a temp=40.0 6")
    flush_twice(engine)
    stats = _stats(engine)
    assert [(s["series"], s["count"], s["mean"], s["min"], s["max"]) for s in stats] == [
        ("room=a", 2, 15.0, 10.0, 20.0),
        ("room=b", 1, 5.0, 5.0, 5.0),
        ("room=a", 4, 25.0, 10.0, 40.0),  # the same state object, carried across flushes
    ]
    assert stats[2]["stddev"] == pytest.approx(12.909944, rel=1e-6)
    assert plugin_logs(engine, "stats") == ["updated 2 series of temp", "updated 1 series of temp"]


def test_cache_state_starts_over_after_forget_after_seconds(
    engine: Engine, clock: ManualClock,
) -> None:
    engine.create_trigger("db", "stats", plugin_filename="cache_state.py",
                          trigger_specification="table:sensors",
                          trigger_arguments={"field": "temp", "forget_after": "60"})
    engine.write_lp("db", "sensors temp=10.0 1")
    flush_twice(engine)
    clock.advance(30)
    engine.write_lp("db", "sensors temp=20.0 2")
    flush_twice(engine)
    clock.advance(61)
    engine.write_lp("db", "sensors temp=50.0 3")
    flush_twice(engine)
    assert [(s["count"], s["mean"]) for s in _stats(engine)] == [(1, 10.0), (2, 15.0), (1, 50.0)]


def test_cache_state_requires_its_field_argument(engine: Engine) -> None:
    engine.create_trigger("db", "stats", plugin_filename="cache_state.py",
                          trigger_specification="all_tables")
    engine.write_lp("db", "sensors temp=1.0 1")
    engine.flush()
    [error] = plugin_logs(engine, "stats", "ERROR")
    assert "the 'field' argument is required" in error

