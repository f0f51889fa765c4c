"""Dry runs: Engine.test_wal_plugin / test_schedule_plugin / test_request_plugin and REST shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from http_support import api_client, make_tokens

from engine import Engine, ManualClock
from engine.dry_run import DEFAULT_TEST_CACHE, parse_test_schedule, plugin_traceback
from engine.dry_run_results import rfc3339
from engine.errors import (
    DatabaseNotFound,
    InvalidName,
    InvalidTestInput,
    NoPluginDirectory,
    PluginNotFound,
    PluginPathError,
    TriggerArgumentsError,
    TriggerSpecError,
)

START = datetime(2025, 1, 1, tzinfo=UTC)

WAL_PLUGIN = '''
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        influxdb3_local.info("batch", batch["table_name"], len(batch["rows"]))
    influxdb3_local.write(LineBuilder("seen").int64_field("tables", len(table_batches)))
    influxdb3_local.write_to_db("elsewhere", LineBuilder("copy").int64_field("n", 1))
    influxdb3_local.write_sync(LineBuilder("sync").int64_field("n", 1), no_sync=False)
    if args and args.get("fail"):
        influxdb3_local.warn("about to fail")
        raise RuntimeError("asked to fail: " + args["fail"])
'''


def _write(plugin_dir: Path, name: str, text: str) -> None:
    path = plugin_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(plugin_dir: Path, clock: ManualClock) -> Iterator[Engine]:
    _write(plugin_dir, "wal.py", WAL_PLUGIN)
    with Engine(plugin_dir, background=False, clock=clock) as running:
        yield running


# --- WAL dry runs ----------------------------------------------------------------------------

def test_wal_result_has_the_reference_shape_and_framework_lines(engine: Engine) -> None:
    result = engine.test_wal_plugin("wal.py", database="db",
                                    input_lp="cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem f=1i 3")
    body = result.to_dict()
    assert list(body) == ["log_lines", "database_writes", "errors"]
    assert json.loads(json.dumps(body)) == body
    assert body["log_lines"][0] == "INFO: starting execution of wal plugin."
    assert body["log_lines"][1:3] == ["INFO: batch cpu 2", "INFO: batch mem 1"]
    assert body["log_lines"][-1].startswith("INFO: finished execution in ")
    assert body["errors"] == []
    assert result.ok and not result.failed


def test_wal_writes_are_captured_per_database_sync_first_and_never_applied(
        engine: Engine) -> None:
    result = engine.test_wal_plugin("wal.py", database="db", input_lp="cpu v=1 1")
    assert result.database_writes == {"db": ["sync n=1i", "seen tables=1i"],
                                      "elsewhere": ["copy n=1i"]}
    assert engine.list_databases() == []


def test_wal_input_rows_reach_the_plugin_as_table_batches(engine: Engine,
                                                          plugin_dir: Path) -> None:
    _write(plugin_dir, "echo.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        influxdb3_local.info(batch["table_name"], batch["rows"], batch.to_arrow().num_rows)
''')
    result = engine.test_wal_plugin(
        "echo.py", database="db",
        input_lp='cpu,host=a usage=1.5,ok=true 1000\ncpu,host=b usage=2 2000\nlog msg="hi" 3')
    assert result.log_lines[1:3] == [
        "INFO: cpu [{'host': 'a', 'usage': 1.5, 'ok': True, 'time': 1000}, "
        "{'host': 'b', 'usage': 2.0, 'time': 2000}] 2",
        "INFO: log [{'msg': 'hi', 'time': 3}] 1",
    ]


def test_wal_input_without_timestamps_takes_the_clock_time(engine: Engine,
                                                           plugin_dir: Path) -> None:
    _write(plugin_dir, "times.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info(table_batches[0]["rows"][0]["time"])
''')
    result = engine.test_wal_plugin("times.py", database="db", input_lp="cpu v=1")
    assert result.log_lines[1] == f"INFO: {int(START.timestamp()) * 1_000_000_000}"


def test_a_failing_plugin_keeps_its_logs_and_reports_the_traceback(engine: Engine) -> None:
    result = engine.test_wal_plugin("wal.py", database="db", input_lp="cpu v=1 1",
                                    input_arguments={"fail": "yes"})
    assert result.failed and not result.ok
    assert result.log_lines[:3] == ["INFO: starting execution of wal plugin.", "INFO: batch cpu 1",
                                    "WARN: about to fail"]
    assert result.log_lines[-1] == (
        "ERROR: error executing wal plugin: RuntimeError: asked to fail: yes")
    (error,) = result.errors
    assert error.startswith("error executing plugin: RuntimeError: asked to fail: yes\nTraceback")
    assert 'wal.py", line 10, in process_writes' in error
    assert "engine/runtime.py" not in error  # the engine's own frames are trimmed
    # Queued writes of a failed call are never applied, synchronous ones already were.
    assert result.database_writes == {"db": ["sync n=1i"]}


def test_queries_see_the_live_database(engine: Engine, plugin_dir: Path) -> None:
    engine.write_lp("db", "cpu,host=a v=10 1\ncpu,host=b v=32 2", precision="s")
    _write(plugin_dir, "sum.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    rows = influxdb3_local.query("SELECT sum(v) AS total FROM cpu WHERE host = $h", {"h": "b"})
    influxdb3_local.info("total", rows[0]["total"])
''')
    result = engine.test_wal_plugin("sum.py", database="db", input_lp="cpu,host=b v=1000 3")
    assert result.log_lines[1] == "INFO: total 32.0"  # the input rows are not stored


def test_cache_names_select_separate_namespaces_that_persist(engine: Engine,
                                                             plugin_dir: Path) -> None:
    _write(plugin_dir, "count.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    n = influxdb3_local.cache.get("n", 0) + 1
    influxdb3_local.cache.put("n", n)
    influxdb3_local.info("n", n)
''')

    def run(cache_name: str | None) -> str:
        return engine.test_wal_plugin("count.py", database="db", input_lp="m v=1 1",
                                      cache_name=cache_name).log_lines[1]

    assert [run(None), run(None), run("a"), run("a"), run(DEFAULT_TEST_CACHE)] == [
        "INFO: n 1", "INFO: n 2", "INFO: n 1", "INFO: n 2", "INFO: n 3"]
    result = engine.test_wal_plugin("count.py", database="db", input_lp="m v=1 1",
                                    cache_name="b")
    assert result.cache == {"n": 1}


def test_test_caches_never_touch_a_triggers_cache(engine: Engine, plugin_dir: Path) -> None:
    _write(plugin_dir, "cache.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("seen", influxdb3_local.cache.get("k", use_global=True),
                         influxdb3_local.cache.get("k"))
    if args:
        influxdb3_local.cache.put("k", "from the test", use_global=True)
        influxdb3_local.cache.put("k", "from the test")
''')
    engine.create_database("db0")
    engine.create_trigger("db0", "t", plugin_filename="cache.py",
                          trigger_specification="all_tables")
    engine.test_wal_plugin("cache.py", database="db0", input_lp="m v=1 1",
                           input_arguments={"put": "yes"})
    again = engine.test_wal_plugin("cache.py", database="db0", input_lp="m v=1 1")
    engine.write_lp("db0", "m v=2 2")
    engine.flush()
    logs = [row["log_text"] for row in engine.query(
        "db0", "SELECT log_text FROM system.processing_engine_logs WHERE log_text LIKE 'seen%'")]
    assert logs == ["seen None None"]
    assert again.log_lines[1] == "INFO: seen from the test from the test"


def test_directory_plugins_with_relative_imports_work(engine: Engine, plugin_dir: Path) -> None:
    _write(plugin_dir, "pkg/__init__.py", '''
from .helpers import describe
from . import settings

def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info(describe(table_batches), settings.LABEL)
''')
    _write(plugin_dir, "pkg/helpers.py",
           "def describe(batches):\n    return ','.join(b['table_name'] for b in batches)\n")
    _write(plugin_dir, "pkg/settings.py", "LABEL = 'from a sibling module'\n")
    result = engine.test_wal_plugin("pkg", database="db", input_lp="a v=1 1\nb v=1 1")
    assert result.errors == []
    assert result.log_lines[1] == "INFO: a,b from a sibling module"


def test_each_dry_run_uses_the_current_file(engine: Engine, plugin_dir: Path) -> None:
    _write(plugin_dir, "edit.py", "def process_writes(influxdb3_local, table_batches, args=None):"
                                  "\n    influxdb3_local.info('one')\n")
    first = engine.test_wal_plugin("edit.py", database="db", input_lp="m v=1 1")
    _write(plugin_dir, "edit.py", "def process_writes(influxdb3_local, table_batches, args=None):"
                                  "\n    influxdb3_local.info('two, longer')\n")
    second = engine.test_wal_plugin("edit.py", database="db", input_lp="m v=1 1")
    assert (first.log_lines[1], second.log_lines[1]) == ("INFO: one", "INFO: two, longer")


@pytest.mark.parametrize(("source", "expected"), [
    ("def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n",
     "error executing plugin: the process_writes function is not present in the plugin"),
    ("def process_writes(influxdb3_local, table_batches, args=None)\n    pass\n",
     "error executing plugin: PluginLoadError: "),
    ("import no_such_module_here\n",
     "error executing plugin: PluginLoadError: "),
], ids=["missing-entry-point", "syntax-error", "import-error"])
def test_plugins_that_cannot_run_are_reported_in_errors(engine: Engine, plugin_dir: Path,
                                                        source: str, expected: str) -> None:
    _write(plugin_dir, "broken.py", source)
    result = engine.test_wal_plugin("broken.py", database="db", input_lp="m v=1 1")
    assert result.failed
    assert result.errors[0].startswith(expected)
    assert result.log_lines[0] == "INFO: starting execution of wal plugin."


@pytest.mark.parametrize(("writes", "expected"), [
    ('influxdb3_local.write_to_db("bad name!", LineBuilder("m").int64_field("v", 1))',
     "database name bad name! is invalid: "),
    ('influxdb3_local.write(LineBuilder("cpu").string_field("v", "text"))',
     "line protocol parse error on write to db db: line 1: "),
], ids=["bad-database-name", "schema-conflict-with-live-table"])
def test_written_lines_the_engine_would_refuse_are_reported(engine: Engine, plugin_dir: Path,
                                                            writes: str, expected: str) -> None:
    engine.write_lp("db", "cpu v=1.5 1")
    _write(plugin_dir, "writes.py",
           f"def process_writes(influxdb3_local, table_batches, args=None):\n    {writes}\n")
    result = engine.test_wal_plugin("writes.py", database="db", input_lp="m v=1 1")
    assert not result.failed
    (error,) = result.errors
    assert error.startswith(expected)


@pytest.mark.parametrize("input_lp", ["", "# only a comment\n\n", "cpu v=1 1\nnot line protocol",
                                      "cpu v=\"text\" 1"],
                         ids=["empty", "comments", "bad-line", "conflicts-with-live-schema"])
def test_bad_input_lp_is_refused_before_the_plugin_runs(engine: Engine, input_lp: str) -> None:
    engine.write_lp("db", "cpu v=1.5 1")
    with pytest.raises(InvalidTestInput, match="invalid input_lp for a WAL plugin test"):
        engine.test_wal_plugin("wal.py", database="db", input_lp=input_lp)


@pytest.mark.parametrize(("filename", "database", "error"), [
    ("missing.py", "db", PluginNotFound),
    ("../outside.py", "db", PluginPathError),
    ("wal.py", "bad name!", InvalidName),
], ids=["missing-plugin", "outside-plugin-dir", "bad-database"])
def test_requests_naming_nothing_usable_are_refused(engine: Engine, filename: str,
                                                    database: str,
                                                    error: type[Exception]) -> None:
    with pytest.raises(error):
        engine.test_wal_plugin(filename, database=database, input_lp="m v=1 1")


def test_dry_runs_need_a_plugin_directory(clock: ManualClock) -> None:
    with Engine(None, background=False, clock=clock) as running, pytest.raises(NoPluginDirectory):
        running.test_wal_plugin("wal.py", database="db", input_lp="m v=1 1")


def test_input_arguments_must_map_strings_to_strings(engine: Engine) -> None:
    with pytest.raises(TriggerArgumentsError, match="strings to strings"):
        engine.test_wal_plugin("wal.py", database="db", input_lp="m v=1 1",
                               input_arguments={"n": 1})  # type: ignore[dict-item]


def test_dry_runs_leave_no_trace_in_the_engine_logs(engine: Engine) -> None:
    engine.create_database("db")
    engine.test_wal_plugin("wal.py", database="db", input_lp="m v=1 1")
    assert engine.observability.logs() == []
    assert engine.observability.runs() == []


# --- schedule dry runs -----------------------------------------------------------------------

SCHEDULE_PLUGIN = '''
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("called for", call_time.isoformat(), call_time.tzinfo)
    influxdb3_local.write(LineBuilder("ticks").int64_field("n", 1))
    if args and args.get("fail"):
        raise ValueError("no")
'''


@pytest.mark.parametrize(("schedule", "trigger_time"), [
    (None, "2025-01-01T00:00:01Z"),
    ("*/15 * * * * *", "2025-01-01T00:00:15Z"),
    ("cron:0 30 * * * *", "2025-01-01T00:30:00Z"),
    ("0 6 * * *", "2025-01-01T06:00:00Z"),
    ("every:1h", "2025-01-01T01:00:00Z"),
    ("every:10s", "2025-01-01T00:00:10Z"),
], ids=["default-every-second", "cron-6-fields", "cron-prefix", "cron-5-fields", "every-1h",
        "every-10s"])
def test_schedule_runs_now_for_the_next_tick(engine: Engine, plugin_dir: Path,
                                             schedule: str | None, trigger_time: str) -> None:
    _write(plugin_dir, "tick.py", SCHEDULE_PLUGIN)
    engine.create_database("db")
    result = engine.test_schedule_plugin("tick.py", database="db", schedule=schedule)
    body = result.to_dict()
    assert list(body) == ["trigger_time", "log_lines", "database_writes", "errors"]
    assert body["trigger_time"] == trigger_time
    naive = trigger_time.rstrip("Z")
    assert body["log_lines"][0] == (
        f"INFO: starting execution with scheduled time {naive.replace('T', ' ')} UTC")
    assert body["log_lines"][1] == f"INFO: called for {naive} None"
    assert body["database_writes"] == {"db": ["ticks n=1i"]}


def test_a_failing_schedule_run_has_no_trigger_time_in_its_body(engine: Engine,
                                                                plugin_dir: Path) -> None:
    _write(plugin_dir, "tick.py", SCHEDULE_PLUGIN)
    engine.create_database("db")
    result = engine.test_schedule_plugin("tick.py", database="db",
                                         input_arguments={"fail": "1"})
    assert result.trigger_time == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    body = result.to_dict()
    assert body["trigger_time"] is None
    assert body["log_lines"][1].startswith("INFO: called for")
    assert body["errors"][0].startswith("error executing plugin: ValueError: no\nTraceback")
    assert body["database_writes"] == {}


def test_schedule_runs_need_their_database(engine: Engine, plugin_dir: Path) -> None:
    _write(plugin_dir, "tick.py", SCHEDULE_PLUGIN)
    with pytest.raises(DatabaseNotFound):
        engine.test_schedule_plugin("tick.py", database="nowhere")


@pytest.mark.parametrize("schedule", ["not a cron", "every:0s", "table:cpu", "* * *"],
                         ids=["garbage", "zero-every", "not-a-schedule", "too-few-fields"])
def test_bad_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(TriggerSpecError):
        parse_test_schedule(schedule)


# --- request dry runs ------------------------------------------------------------------------

REQUEST_PLUGIN = '''
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    influxdb3_local.info("body", request_body)
    influxdb3_local.write(LineBuilder("hits").tag("path", "echo").int64_field("n", 1))
    if query_parameters.get("fail"):
        raise KeyError("missing")
    if query_parameters.get("bad"):
        return 42
    return {"query": query_parameters, "headers": request_headers, "args": args}, 201
'''


@pytest.fixture
def request_engine(engine: Engine, plugin_dir: Path) -> Engine:
    _write(plugin_dir, "echo.py", REQUEST_PLUGIN)
    return engine


def test_request_dry_run_gives_the_response_the_plugin_would_make(request_engine: Engine) -> None:
    result = request_engine.test_request_plugin(
        "echo.py", database="db", query_parameters={"q": "1"},
        request_headers={"Authorization": "Bearer secret", "X-Trace": "abc"},
        request_body=b"payload", input_arguments={"mode": "test"})
    assert result.response.status == 201
    assert result.response.json() == {"query": {"q": "1"}, "headers": {"x-trace": "abc"},
                                      "args": {"mode": "test"}}
    body = result.to_dict()
    assert list(body) == ["response", "log_lines", "database_writes", "errors"]
    assert body["response"]["status"] == 201
    assert json.loads(body["response"]["body"])["headers"] == {"x-trace": "abc"}
    assert body["log_lines"][:2] == ["INFO: starting execution of request plugin.",
                                     "INFO: body b'payload'"]
    assert body["database_writes"] == {"db": ["hits,path=echo n=1i"]}


@pytest.mark.parametrize(("params", "status", "error_start"), [
    ({"fail": "1"}, 500, "error executing plugin: KeyError: 'missing'"),
    ({"bad": "1"}, 500, "invalid response from plugin: "),
], ids=["plugin-raises", "unusable-return-value"])
def test_failed_requests_answer_500_and_keep_their_logs(request_engine: Engine,
                                                       params: dict[str, str], status: int,
                                                       error_start: str) -> None:
    result = request_engine.test_request_plugin("echo.py", database="db",
                                                query_parameters=params, request_body="text")
    assert result.response.status == status
    assert "error" in result.response.json()
    assert result.errors[0].startswith(error_start)
    assert result.log_lines[1] == "INFO: body b'text'"


def test_non_utf8_response_bodies_are_given_in_base64(engine: Engine, plugin_dir: Path) -> None:
    _write(plugin_dir, "raw.py", "def process_request(influxdb3_local, q, h, body, args=None):\n"
                                 "    return b'\\xff\\x00'\n")
    body = engine.test_request_plugin("raw.py", database="db").to_dict()
    assert body["response"]["body"] is None
    assert body["response"]["body_base64"] == "/wA="


# --- helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "text"), [
    (datetime(2025, 1, 1, tzinfo=UTC), "2025-01-01T00:00:00Z"),
    (datetime(2025, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC), "2025-01-01T00:00:01.500Z"),
    (datetime(2025, 1, 1, 0, 0, 1, 123_456, tzinfo=UTC), "2025-01-01T00:00:01.123456Z"),
    (datetime(2025, 6, 1, 12), "2025-06-01T12:00:00Z"),
], ids=["whole-second", "millis", "micros", "naive-is-utc"])
def test_trigger_times_are_rfc3339_utc(when: datetime, text: str) -> None:
    assert rfc3339(when) == text


def test_plugin_tracebacks_keep_chained_parts_without_plugin_frames() -> None:
    engine_file = str(Path(__file__).resolve().parent.parent / "engine" / "runtime.py")
    text = (
        "Traceback (most recent call last):\n"
        f'  File "{engine_file}", line 1, in inner\n    x()\nKeyError: 1\n\n'
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        f'  File "{engine_file}", line 2, in _attempt\n    value = function()\n'
        '  File "/plugins/p.py", line 3, in process_writes\n    raise ValueError()\n'
        "ValueError\n")
    trimmed = plugin_traceback(text)
    assert trimmed.count(engine_file) == 1  # kept in the first part, dropped in the second
    assert '  File "/plugins/p.py", line 3' in trimmed


# --- REST ------------------------------------------------------------------------------------

def test_rest_dry_runs_answer_the_seed_shapes_and_keep_logs_on_failure(
        plugin_dir: Path) -> None:
    from engine.http import create_app

    _write(plugin_dir, "wal.py", WAL_PLUGIN)
    _write(plugin_dir, "tick.py", SCHEDULE_PLUGIN)
    _write(plugin_dir, "echo.py", REQUEST_PLUGIN)
    with Engine(plugin_dir) as running:
        running.create_database("db")
        headers = {"Authorization": f"Bearer {make_tokens(running).admin}"}
        with api_client(create_app(running)) as client:
            wal = client.post("/api/v3/plugin_test/wal", headers=headers, json={
                "filename": "wal.py", "database": "db", "input_lp": "cpu v=1 1",
                "input_arguments": {"fail": "x"}, "cache_name": "c"})
            schedule = client.post("/api/v3/plugin_test/schedule", headers=headers, json={
                "filename": "tick.py", "database": "db", "schedule": "every:1m"})
            request = client.post("/api/v3/plugin_test/request", headers=headers, json={
                "filename": "echo.py", "database": "db", "query_parameters": {"a": "b"},
                "request_headers": {"X-A": "1"}, "request_body": "hi"})
            missing = client.post("/api/v3/plugin_test/wal", headers=headers, json={
                "filename": "nope.py", "database": "db", "input_lp": "cpu v=1 1"})
    assert wal.status_code == 200
    assert set(wal.json()) == {"log_lines", "database_writes", "errors"}
    assert "WARN: about to fail" in wal.json()["log_lines"]
    assert "Traceback" in wal.json()["errors"][0]
    assert schedule.status_code == 200
    assert set(schedule.json()) == {"trigger_time", "log_lines", "database_writes", "errors"}
    assert schedule.json()["trigger_time"].endswith(":00Z")
    assert request.status_code == 200
    assert request.json()["response"]["status"] == 201
    assert missing.status_code == 404
