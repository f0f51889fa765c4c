"""WAL triggers through the Engine: what `process_writes` receives, when, and after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ManualClock

START = datetime(2025, 1, 1, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000
FRAMEWORK_PREFIXES = ("starting execution", "finished execution")

RECORD = """
import json

def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info(json.dumps(
        [{"table": b["table_name"], "rows": b["rows"]} for b in table_batches]))
"""

SHAPES = """
import json
import pyarrow as pa

def process_writes(influxdb3_local, table_batches, args=None):
    out = []
    for batch in table_batches:
        arrow = batch.to_arrow()
        out.append({
            "is_dict": isinstance(batch, dict),
            "keys": sorted(batch.keys()),
            "attr_name": batch.table_name == batch["table_name"],
            "attr_rows": batch.rows is batch["rows"],
            "rows_type": type(batch["rows"]).__name__,
            "row_type": type(batch["rows"][0]).__name__,
            "get_rows": batch.get("rows") is batch.rows,
            "arrow_is_table": isinstance(arrow, pa.Table),
            "schema": {f.name: str(f.type) for f in arrow.schema},
            "arrow_rows": arrow.to_pylist(),
            "rows": batch.rows,
            "as_json": json.loads(json.dumps(batch)),
        })
    influxdb3_local.info(json.dumps(out))
"""

# Writes one report line per table it sees, except for its own output table (the loop guard
# real plugins use), batched or at once depending on the `mode` argument.
REPORTER = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        if batch["table_name"] == "reports":
            continue
        line = LineBuilder("reports").tag("source", batch["table_name"])
        line.int64_field("rows", len(batch["rows"]))
        if args["mode"] == "sync":
            influxdb3_local.write_sync(line, no_sync=True)
        elif args["mode"] == "other_db":
            influxdb3_local.write_to_db("elsewhere", line)
        else:
            influxdb3_local.write(line)
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(plugin_dir: Path, clock: ManualClock) -> Iterator[Engine]:
    (plugin_dir / "record.py").write_text(RECORD)
    (plugin_dir / "shapes.py").write_text(SHAPES)
    (plugin_dir / "reporter.py").write_text(REPORTER)
    with Engine(plugin_dir, background=False, clock=clock) as eng:
        yield eng


def plugin_lines(engine: Engine, db: str, trigger: str) -> list[str]:
    """What the plugin itself logged (the framework's start and finish lines left out)."""
    return [
        entry.message for entry in engine.observability.logs_for(db, trigger)
        if not entry.message.startswith(FRAMEWORK_PREFIXES)
    ]


def calls(engine: Engine, db: str, trigger: str) -> list[Any]:
    """Each call of a JSON-logging plugin, decoded."""
    return [json.loads(line) for line in plugin_lines(engine, db, trigger)]


def add_trigger(engine: Engine, db: str, name: str, plugin: str, spec: str,
                args: dict[str, str] | None = None) -> None:
    engine.create_trigger(db, name, plugin_filename=plugin, trigger_specification=spec,
                          trigger_arguments=args)


def test_all_tables_is_called_once_per_flush_per_database(engine: Engine) -> None:
    for db in ("a", "b"):
        engine.create_database(db)
        add_trigger(engine, db, "rec", "record.py", "all_tables")
    engine.write_lp("a", "mem,host=x used=1i 10\ncpu,host=x v=1.5 20", precision="ns")
    engine.write_lp("a", "cpu,host=y v=2.5 30", precision="ns")
    engine.write_lp("b", "disk,dev=sda free=9u 40", precision="ns")
    engine.flush()
    assert calls(engine, "a", "rec") == [[
        {"table": "mem", "rows": [{"host": "x", "used": 1, "time": 10}]},
        {"table": "cpu", "rows": [{"host": "x", "v": 1.5, "time": 20},
                                  {"host": "y", "v": 2.5, "time": 30}]},
    ]]
    assert calls(engine, "b", "rec") == [[
        {"table": "disk", "rows": [{"dev": "sda", "free": 9, "time": 40}]},
    ]]
    engine.flush()  # nothing new: nobody is called
    assert len(calls(engine, "a", "rec")) == 1
    engine.write_lp("b", "disk,dev=sdb free=1u 50", precision="ns")
    engine.flush()
    assert len(calls(engine, "a", "rec")) == 1
    assert len(calls(engine, "b", "rec")) == 2


def test_table_trigger_is_called_only_when_its_table_has_rows(engine: Engine) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "cpu_only", "record.py", "table:cpu")
    add_trigger(engine, "db", "never", "record.py", "table:not_there")
    engine.write_lp("db", "mem,host=x used=1i 10", precision="ns")
    engine.flush()
    assert calls(engine, "db", "cpu_only") == []
    engine.write_lp("db", "mem,host=x used=2i 20\ncpu,host=x v=1.0 30", precision="ns")
    engine.flush()
    assert calls(engine, "db", "cpu_only") == [[
        {"table": "cpu", "rows": [{"host": "x", "v": 1.0, "time": 30}]},
    ]]
    assert list(engine.observability.logs_for("db", "never")) == []
    runs = engine.query("db", "SELECT trigger_name, status FROM system.processing_engine_runs")
    assert runs == [{"trigger_name": "cpu_only", "status": "success"}]


@pytest.mark.parametrize(("lines", "precision", "rows"), [
    pytest.param(
        'm,t1=a,t2=b f=1.5,i=-2i,u=3u,s="x y",b=true 100',
        "ns",
        [{"t1": "a", "t2": "b", "f": 1.5, "i": -2, "u": 3, "s": "x y", "b": True, "time": 100}],
        id="every-type",
    ),
    pytest.param(
        "m,t1=a f=1 1\nm,t2=b i=2i 2\nm f=3,i=4i 3",
        "ns",
        [{"t1": "a", "f": 1.0, "time": 1}, {"t2": "b", "i": 2, "time": 2},
         {"f": 3.0, "i": 4, "time": 3}],
        id="sparse",
    ),
    pytest.param(
        "m f=1 30\nm f=2 10\nm f=3 20",
        "ns",
        [{"f": 1.0, "time": 30}, {"f": 2.0, "time": 10}, {"f": 3.0, "time": 20}],
        id="write-order-not-time-order",
    ),
    pytest.param("m f=1 7", "s", [{"f": 1.0, "time": 7_000_000_000}], id="seconds"),
    pytest.param("m f=1 7", "ms", [{"f": 1.0, "time": 7_000_000}], id="milliseconds"),
    pytest.param("m f=1 7", "us", [{"f": 1.0, "time": 7_000}], id="microseconds"),
    pytest.param("m f=1", "ns", [{"f": 1.0, "time": START_NS}], id="no-timestamp-is-now"),
    pytest.param('m,t=x\\ y s="q\\"uote"', "ns", [{"t": "x y", "s": 'q"uote', "time": START_NS}],
                 id="escapes"),
])
def test_rows_are_sparse_dicts_in_write_order_with_int_ns_time(
    engine: Engine, lines: str, precision: str, rows: list[dict[str, Any]],
) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "rec", "record.py", "all_tables")
    engine.write_lp("db", lines, precision=precision)
    engine.flush()
    [[batch]] = calls(engine, "db", "rec")
    assert batch == {"table": "m", "rows": rows}
    assert [list(row) for row in batch["rows"]] == [list(row) for row in rows]
    assert all(type(row["time"]) is int for row in batch["rows"])


def test_batches_are_dicts_with_attribute_access_and_arrow(engine: Engine) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "shapes", "shapes.py", "all_tables")
    engine.write_lp("db", "cpu,host=a v=1.5,n=2i 10\ncpu,host=b v=2.5,n=3i 20", precision="ns")
    engine.flush()
    [[seen]] = calls(engine, "db", "shapes")
    rows = [{"host": "a", "v": 1.5, "n": 2, "time": 10},
            {"host": "b", "v": 2.5, "n": 3, "time": 20}]
    assert seen == {
        "is_dict": True, "keys": ["rows", "table_name"], "attr_name": True, "attr_rows": True,
        "rows_type": "list", "row_type": "dict", "get_rows": True, "arrow_is_table": True,
        "schema": {"host": "string", "v": "double", "n": "int64", "time": "int64"},
        "arrow_rows": rows, "rows": rows, "as_json": {"table_name": "cpu", "rows": rows},
    }


def test_two_triggers_never_share_row_dicts(plugin_dir: Path, clock: ManualClock) -> None:
    (plugin_dir / "mutate.py").write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    for batch in table_batches:\n"
        "        for row in batch['rows']:\n"
        "            row.clear()\n"
        "        batch['rows'].clear()\n"
    )
    (plugin_dir / "record.py").write_text(RECORD)
    with Engine(plugin_dir, background=False, clock=clock) as engine:
        engine.create_database("db")
        add_trigger(engine, "db", "first", "mutate.py", "all_tables")
        add_trigger(engine, "db", "second", "record.py", "all_tables")
        engine.write_lp("db", "m f=1 5", precision="ns")
        engine.flush()
        assert calls(engine, "db", "second") == [[{"table": "m", "rows": [{"f": 1.0, "time": 5}]}]]


@pytest.mark.parametrize("mode", ["batched", "sync"])
def test_plugin_writes_reenter_wal_triggers_in_a_later_flush(engine: Engine, mode: str) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "reporter", "reporter.py", "all_tables", {"mode": mode})
    add_trigger(engine, "db", "reports", "record.py", "table:reports")
    add_trigger(engine, "db", "everything", "record.py", "all_tables")
    engine.write_lp("db", "cpu v=1 1\ncpu v=2 2", precision="ns")
    engine.flush()
    assert calls(engine, "db", "reports") == []
    engine.flush()  # the plugin's write was buffered like any other write
    [[report]] = calls(engine, "db", "reports")
    assert report["table"] == "reports"
    assert [{k: v for k, v in row.items() if k != "time"} for row in report["rows"]] == [
        {"source": "cpu", "rows": 2}]
    tables = [[batch["table"] for batch in call] for call in calls(engine, "db", "everything")]
    assert tables == [["cpu"], ["reports"]]
    # The writer saw its own output too (all_tables includes it) and skipped it: no loop.
    engine.flush()
    assert len(calls(engine, "db", "everything")) == 2
    assert engine.query("db", "SELECT source, rows FROM reports") == [{"source": "cpu", "rows": 2}]


def test_plugin_writes_to_another_database_reach_its_triggers(engine: Engine) -> None:
    engine.create_database("db")
    engine.create_database("elsewhere")
    add_trigger(engine, "db", "reporter", "reporter.py", "all_tables", {"mode": "other_db"})
    add_trigger(engine, "elsewhere", "rec", "record.py", "all_tables")
    engine.write_lp("db", "cpu v=1 1", precision="ns")
    engine.flush()
    engine.flush()
    [[batch]] = calls(engine, "elsewhere", "rec")
    assert batch["table"] == "reports"
    assert batch["rows"][0]["source"] == "cpu"


def test_no_sync_writes_reach_plugins(engine: Engine) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "rec", "record.py", "all_tables")
    engine.write_lp("db", "m f=1 5", precision="ns", no_sync=True)
    engine.flush()
    assert calls(engine, "db", "rec") == [[{"table": "m", "rows": [{"f": 1.0, "time": 5}]}]]


def test_disabled_triggers_get_nothing_and_enabled_ones_get_only_later_flushes(
    engine: Engine,
) -> None:
    engine.create_database("db")
    add_trigger(engine, "db", "rec", "record.py", "all_tables")
    engine.disable_trigger("db", "rec")
    engine.write_lp("db", "m f=1 1", precision="ns")
    engine.flush()
    engine.enable_trigger("db", "rec")
    engine.write_lp("db", "m f=2 2", precision="ns")
    engine.flush()
    assert calls(engine, "db", "rec") == [[{"table": "m", "rows": [{"f": 2.0, "time": 2}]}]]


# --- at-least-once delivery across a crash (needs a data_dir) ---------------------------------

LEDGER = """
import os

def process_writes(influxdb3_local, table_batches, args=None):
    with open(args["ledger"], "a") as ledger:
        for batch in table_batches:
            for row in batch["rows"]:
                ledger.write(f"{row['n']}\\n")
    if os.path.exists(args["crash_flag"]):
        os._exit(17)  # the process dies after the plugin ran, before the flush counted as done
"""

CHILD = """
import sys
from engine import Engine

plugin_dir, data_dir, ledger, flag, crash_in = sys.argv[1:]
engine = Engine(plugin_dir, data_dir=data_dir, background=False)
engine.start()
engine.create_database("db")
engine.create_trigger("db", "ledger", plugin_filename="ledger.py",
                      trigger_specification="all_tables",
                      trigger_arguments={"ledger": ledger, "crash_flag": flag})
engine.write_lp("db", "m n=1i 1\\nm n=2i 2", precision="ns")
engine.write_lp("db", "m n=3i 3", precision="ns")  # acknowledged: durable before it returns
if crash_in == "plugin":
    engine.flush()  # the plugin runs, then the process dies
import os
os._exit(17)  # crash before anything was delivered
"""


@pytest.mark.parametrize("crash_in", ["plugin", "before-delivery"])
def test_acknowledged_writes_reach_wal_triggers_at_least_once_after_a_crash(
    tmp_path: Path, plugin_dir: Path, crash_in: str,
) -> None:
    (plugin_dir / "ledger.py").write_text(LEDGER)
    data_dir, ledger, flag = tmp_path / "data", tmp_path / "ledger.txt", tmp_path / "crash"
    flag.touch()
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(plugin_dir), str(data_dir),
         str(ledger), str(flag), crash_in],
        capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == 17, child.stderr
    before = ledger.read_text().split() if ledger.exists() else []
    assert before == (["1", "2", "3"] if crash_in == "plugin" else [])
    flag.unlink()
    with Engine(plugin_dir, data_dir=data_dir, background=False) as engine:
        engine.flush()
        assert ledger.read_text().split() == [*before, "1", "2", "3"]
        engine.write_lp("db", "m n=4i 4", precision="ns")
        engine.flush()
    with Engine(plugin_dir, data_dir=data_dir, background=False) as engine:
        engine.write_lp("db", "m n=5i 5", precision="ns")
        engine.flush()  # a clean restart delivers nothing twice
    assert ledger.read_text().split() == [*before, "1", "2", "3", "4", "5"]


def test_flush_right_after_a_clean_restart_returns(plugin_dir: Path, tmp_path: Path) -> None:
    (plugin_dir / "record.py").write_text(RECORD)
    data_dir = tmp_path / "data"
    with Engine(plugin_dir, data_dir=data_dir, background=False) as engine:
        engine.create_database("db")
        add_trigger(engine, "db", "rec", "record.py", "all_tables")
        engine.write_lp("db", "m f=1 1", precision="ns")
        engine.flush()
    with Engine(plugin_dir, data_dir=data_dir, background=False) as engine:
        done = threading.Event()
        flusher = threading.Thread(target=lambda: (engine.flush(), done.set()), daemon=True)
        flusher.start()
        # Every delivered record was processed before the stop, so there is nothing to wait for.
        assert done.wait(10), "flush() with nothing to deliver did not return after a restart"
        assert calls(engine, "db", "rec") == []
