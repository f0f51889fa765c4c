"""`influxdb3_local`: logging, queries over DataFusion, buffered and immediate writes, cache."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import datafusion
import line_protocol_parser
import pytest

from engine.cache import CacheStore
from engine.clock import ManualClock
from engine.errors import (
    EngineError,
    InternalDatabaseWrite,
    InvalidPluginCallArgument,
    PluginCallCancelled,
    QueryError,
    SyncWriteFailed,
    WriteError,
)
from engine.linebuilder import InvalidLineError, LineBuilder
from engine.names import validate_database_name
from engine.observability import LogEntry, Observability
from engine.plugin_api import PluginAPI, PluginCallResult, PluginHost, format_log_line

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Lines:
    """A plugin-style batch object: any object with build() returning `\\n`-joined lines."""

    def __init__(self, *builders: LineBuilder) -> None:
        self.builders = builders

    def build(self) -> str:
        return "\n".join(b.build() for b in self.builders)


class Host:
    """A small engine behind the callbacks: DataFusion per database, a checked write log."""

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.contexts: dict[str, datafusion.SessionContext] = {}
        self.applied: list[tuple[str, str, bool]] = []
        self.observability = Observability()
        self.store = CacheStore(self.clock)
        ctx = datafusion.SessionContext()
        ctx.from_pydict({"host": ["a", "b", "c"], "usage": [0.5, 0.9, 0.7],
                         "n": [1, 2, 3]}, name="cpu")
        self.contexts["foo"] = ctx
        self.cancelled = False

    def query(self, db: str, sql: str, params: dict[str, Any] | None) -> list[dict[str, Any]]:
        if db not in self.contexts:
            raise QueryError(db, sql, "database not found")
        rows: list[dict[str, Any]] = self.contexts[db].sql(sql, param_values=params).to_pylist()
        return rows

    def write(self, db: str, lp: str, no_sync: bool) -> None:
        validate_database_name(db)
        for number, line in enumerate(lp.splitlines(), start=1):
            try:
                line_protocol_parser.parse_line(line)
            except line_protocol_parser.LineFormatError as exc:
                raise WriteError(f"line {number} of the write was refused: {exc}") from exc
        self.applied.append((db, lp, no_sync))

    def plugin_host(self) -> PluginHost:
        return PluginHost(query=self.query, write=self.write, clock=self.clock,
                          log=self.observability.log, sweep_cache=self.store.maybe_sweep)

    def api(self, database: str = "foo", trigger: str = "trig") -> PluginAPI:
        return PluginAPI(self.plugin_host(), database=database, trigger_name=trigger,
                         cache=self.store.for_trigger(database, trigger),
                         cancelled=lambda: self.cancelled)


@pytest.fixture
def host() -> Host:
    return Host()


@pytest.fixture
def api(host: Host) -> PluginAPI:
    return host.api()


# --- logging -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "line"),
    [
        pytest.param("info", ("hello",), "INFO: hello", id="info"),
        pytest.param("warn", ("careful",), "WARN: careful", id="warn"),
        pytest.param("error", ("boom",), "ERROR: boom", id="error"),
        pytest.param("info", ("i", [1], "s2"), "INFO: i [1] s2", id="reference-example"),
        pytest.param("info", ("rows:", {"a": 1}), "INFO: rows: {'a': 1}", id="dict-arg"),
        pytest.param("warn", (1, 2.5, None, True), "WARN: 1 2.5 None True", id="non-strings"),
        pytest.param("info", (), "INFO: ", id="no-args"),
        pytest.param("error", ("",), "ERROR: ", id="empty-string"),
        pytest.param("info", ("%s", "x"), "INFO: %s x", id="no-percent-formatting"),
        pytest.param("info", ("multi\nline",), "INFO: multi\nline", id="newline-kept"),
    ],
)
def test_log_lines(api: PluginAPI, method: str, args: tuple[object, ...], line: str) -> None:
    getattr(api, method)(*args)
    assert api.log_lines == [line]


def test_log_records_reach_the_sink_with_clock_time(host: Host, api: PluginAPI) -> None:
    api.info("first")
    host.clock.advance(1.5)
    api.error("second", 2)
    entries = host.observability.logs()
    assert [(e.level, e.message) for e in entries] == [("INFO", "first"), ("ERROR", "second 2")]
    assert [e.time for e in entries] == [START, datetime(2025, 3, 1, 12, 0, 1, 500000, UTC)]
    assert {(e.database, e.trigger_name) for e in entries} == {("foo", "trig")}
    assert api.log_entries == entries


def test_log_lines_keep_call_order_across_levels(api: PluginAPI) -> None:
    api.info("a")
    api.warn("b")
    api.error("c")
    api.info("d")
    assert api.log_lines == ["INFO: a", "WARN: b", "ERROR: c", "INFO: d"]


def test_log_argument_whose_str_fails_propagates(api: PluginAPI) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    with pytest.raises(RuntimeError, match="no str"):
        api.info("x", Broken())
    assert api.log_lines == []


@pytest.mark.parametrize(("level", "expected"), [("INFO", "INFO: m"), ("WARN", "WARN: m")])
def test_format_log_line(level: str, expected: str) -> None:
    assert format_log_line(level, "m") == expected


# --- query ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "args", "rows"),
    [
        pytest.param("SELECT host FROM cpu ORDER BY host", None,
                     [{"host": "a"}, {"host": "b"}, {"host": "c"}], id="no-args"),
        pytest.param("SELECT host, usage FROM cpu WHERE host = $host", {"host": "b"},
                     [{"host": "b", "usage": 0.9}], id="str-param"),
        pytest.param("SELECT host FROM cpu WHERE n > $n ORDER BY host", {"n": 1},
                     [{"host": "b"}, {"host": "c"}], id="int-param"),
        pytest.param("SELECT host FROM cpu WHERE usage > $u", {"u": 0.8},
                     [{"host": "b"}], id="float-param"),
        pytest.param("SELECT host FROM cpu WHERE (n = 3) = $flag", {"flag": True},
                     [{"host": "c"}], id="bool-param"),
        pytest.param("SELECT host FROM cpu WHERE n > 10", {}, [], id="no-rows"),
    ],
)
def test_query(api: PluginAPI, sql: str, args: dict[str, Any] | None,
               rows: list[dict[str, Any]]) -> None:
    assert api.query(sql, args) == rows


def test_query_defaults_to_trigger_database_and_takes_another(host: Host) -> None:
    other = datafusion.SessionContext()
    other.from_pydict({"x": [42]}, name="t")
    host.contexts["other"] = other
    api = host.api()
    assert api.query("SELECT x FROM t", database="other") == [{"x": 42}]
    assert api.query("SELECT x FROM t", None, "other") == [{"x": 42}]
    with pytest.raises(QueryError):
        api.query("SELECT x FROM t")


def test_query_errors_are_query_errors(api: PluginAPI) -> None:
    with pytest.raises(QueryError) as caught:
        api.query("SELECT foo FROM not_here")
    error = caught.value
    assert type(error).__name__ == "QueryError"
    assert "not_here" in str(error)
    assert error.db == "foo"
    assert error.sql == "SELECT foo FROM not_here"
    assert error.__cause__ is not None  # DataFusion's own error is kept


def test_query_error_from_the_callback_passes_unchanged(api: PluginAPI) -> None:
    with pytest.raises(QueryError, match="database not found"):
        api.query("SELECT 1", database="missing")


@pytest.mark.parametrize(
    ("database", "detail"),
    [
        pytest.param("bad db", "character number 4 (' ') is not allowed", id="space"),
        pytest.param("", "it is empty", id="empty"),
        pytest.param("-x", "it starts with '-'", id="leading-dash"),
    ],
)
def test_query_invalid_database_name(api: PluginAPI, database: str, detail: str) -> None:
    with pytest.raises(QueryError) as caught:
        api.query("SELECT 1", database=database)
    assert "invalid database name provided" in str(caught.value)
    assert detail in str(caught.value)


def test_query_on_internal_database_is_allowed(host: Host) -> None:
    internal = datafusion.SessionContext()
    internal.from_pydict({"x": [1]}, name="t")
    host.contexts["_internal"] = internal
    assert host.api().query("SELECT x FROM t", database="_internal") == [{"x": 1}]


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        pytest.param(lambda a: a.query("SELECT 1", ["x"]), "args must be a dict",
                     id="args-list"),
        pytest.param(lambda a: a.query("SELECT $x", {"x": None}),
                     "parameter 'x' must be a str, int, float or bool, got NoneType",
                     id="none-value"),
        pytest.param(lambda a: a.query("SELECT $x", {"x": [1]}),
                     "parameter 'x' must be a str, int, float or bool", id="list-value"),
        pytest.param(lambda a: a.query("SELECT 1", {1: "x"}), "a parameter name must be a str",
                     id="int-name"),
        pytest.param(lambda a: a.query(b"SELECT 1"), "query must be a str of SQL",
                     id="bytes-sql"),
        pytest.param(lambda a: a.query("SELECT 1", None, 5), "database must be a str or None",
                     id="int-database"),
    ],
)
def test_query_argument_errors(api: PluginAPI, call: Any, fragment: str) -> None:
    with pytest.raises(InvalidPluginCallArgument) as caught:
        call(api)
    assert isinstance(caught.value, TypeError)
    assert fragment in str(caught.value)


# --- buffered writes -------------------------------------------------------------------------


def test_writes_are_buffered_per_database_in_call_order(host: Host, api: PluginAPI) -> None:
    api.write(LineBuilder("a").int64_field("f", 1))
    api.write_to_db("other", LineBuilder("b").int64_field("f", 2))
    api.write(LineBuilder("c").int64_field("f", 3))
    assert api.pending_writes() == {"foo": ["a f=1i", "c f=3i"], "other": ["b f=2i"]}
    assert host.applied == []


def test_multi_line_build_results_are_kept_whole(api: PluginAPI) -> None:
    batch = Lines(LineBuilder("a").int64_field("f", 1), LineBuilder("b").bool_field("g", True))
    api.write(batch)
    assert api.pending_writes() == {"foo": ["a f=1i\nb g=t"]}


def test_build_is_called_at_write_time(api: PluginAPI) -> None:
    builder = LineBuilder("a").int64_field("f", 1)
    api.write(builder)
    builder.int64_field("later", 2)
    assert api.pending_writes() == {"foo": ["a f=1i"]}


def test_linebuilder_errors_surface_at_the_call_site(api: PluginAPI) -> None:
    with pytest.raises(InvalidLineError, match="At least one field is required: empty"):
        api.write(LineBuilder("empty"))
    assert api.pending_writes() == {}


def test_buffered_writes_are_not_parsed(api: PluginAPI) -> None:
    class Raw:
        def build(self) -> str:
            return "not line protocol"

    api.write(Raw())
    assert api.pending_writes() == {"foo": ["not line protocol"]}


def test_discard_writes_is_all_or_nothing(api: PluginAPI) -> None:
    api.write(LineBuilder("a").int64_field("f", 1))
    api.write_to_db("other", LineBuilder("b").int64_field("f", 1))
    api.discard_writes()
    assert api.pending_writes() == {}
    api.write(LineBuilder("c").int64_field("f", 1))
    assert api.pending_writes() == {"foo": ["c f=1i"]}


def test_pending_writes_is_a_copy(api: PluginAPI) -> None:
    api.write(LineBuilder("a").int64_field("f", 1))
    api.pending_writes()["foo"].append("x f=1i")
    assert api.pending_writes() == {"foo": ["a f=1i"]}


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        pytest.param(lambda a: a.write("m f=1i"), "line_builder must be a LineBuilder or any "
                     "object with a build() method returning line protocol, got str",
                     id="raw-string"),
        pytest.param(lambda a: a.write(None), "got NoneType", id="none"),
        pytest.param(lambda a: a.write_to_db("db", Returns(b"m f=1i")),
                     "line_builder.build() must be a str of line protocol, got bytes",
                     id="build-returns-bytes"),
        pytest.param(lambda a: a.write_to_db(5, LineBuilder("m").int64_field("f", 1)),
                     "db_name must be a str, got int", id="int-database"),
    ],
)
def test_write_argument_errors(api: PluginAPI, call: Any, fragment: str) -> None:
    with pytest.raises(InvalidPluginCallArgument) as caught:
        call(api)
    assert fragment in str(caught.value)
    assert api.pending_writes() == {}


class Returns:
    def __init__(self, value: object) -> None:
        self.value = value

    def build(self) -> object:
        return self.value


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda a, lb: a.write_to_db("_internal", lb), id="write_to_db"),
        pytest.param(lambda a, lb: a.write_sync_to_db("_internal", lb, True),
                     id="write_sync_to_db"),
        pytest.param(lambda a, lb: a.write(lb), id="trigger-on-internal"),
    ],
)
def test_internal_database_is_not_writable(host: Host, call: Any) -> None:
    api = host.api(database="_internal")
    with pytest.raises(InternalDatabaseWrite,
                       match="Python plugins cannot write to the _internal database"):
        call(api, LineBuilder("m").int64_field("f", 1))
    assert api.pending_writes() == {}
    assert host.applied == []


# --- immediate writes ----------------------------------------------------------------------


@pytest.mark.parametrize("no_sync", [True, False], ids=["no-sync", "sync"])
def test_write_sync_applies_at_once(host: Host, api: PluginAPI, no_sync: bool) -> None:
    api.write_sync(LineBuilder("a").int64_field("f", 1), no_sync)
    api.write_sync_to_db("other", LineBuilder("b").int64_field("f", 2), no_sync=no_sync)
    assert host.applied == [("foo", "a f=1i", no_sync), ("other", "b f=2i", no_sync)]
    assert api.pending_writes() == {}


def test_write_sync_needs_no_sync(api: PluginAPI) -> None:
    with pytest.raises(TypeError, match="no_sync"):
        api.write_sync(LineBuilder("a").int64_field("f", 1))  # type: ignore[call-arg]


@pytest.mark.parametrize("value", [None, 1, "true"], ids=["none", "int", "str"])
def test_write_sync_no_sync_must_be_bool(host: Host, api: PluginAPI, value: Any) -> None:
    with pytest.raises(InvalidPluginCallArgument, match="no_sync must be True or False"):
        api.write_sync(LineBuilder("a").int64_field("f", 1), value)
    assert host.applied == []


@pytest.mark.parametrize(
    ("db", "lp", "detail"),
    [
        pytest.param("bad db", "m f=1i", "invalid database name 'bad db'", id="bad-db-name"),
        pytest.param("foo", "m f=", "line 1 of the write was refused", id="bad-line"),
        pytest.param("foo", "m f=1i\nm g=", "line 2 of the write was refused", id="second-line"),
    ],
)
def test_write_sync_failures_raise(host: Host, api: PluginAPI, db: str, lp: str,
                                   detail: str) -> None:
    with pytest.raises(SyncWriteFailed) as caught:
        api.write_sync_to_db(db, Returns(lp), False)
    assert str(caught.value).startswith(f"error writing line protocol to {db}: ")
    assert detail in str(caught.value)
    assert isinstance(caught.value, EngineError)
    assert caught.value.__cause__ is not None
    assert host.applied == []
    assert api.result().database_writes == {}


def test_result_lists_sync_writes_first_then_buffered(api: PluginAPI) -> None:
    api.write(LineBuilder("buffered").int64_field("f", 1))
    api.write_sync(LineBuilder("sync").int64_field("f", 1), True)
    api.write_to_db("other", LineBuilder("o").int64_field("f", 1))
    api.info("done")
    assert api.result() == PluginCallResult(
        log_lines=["INFO: done"],
        database_writes={"foo": ["sync f=1i", "buffered f=1i"], "other": ["o f=1i"]},
    )


def test_result_of_an_idle_call_is_empty(api: PluginAPI) -> None:
    assert api.result() == PluginCallResult(log_lines=[], database_writes={})


def test_read_your_writes_through_the_host(host: Host) -> None:
    # The engine's write callback makes data visible; the API adds nothing in between.
    seen: list[str] = []

    def write(db: str, lp: str, no_sync: bool) -> None:
        seen.append(lp)

    api = PluginAPI(PluginHost(query=lambda db, sql, p: [{"lines": len(seen)}], write=write,
                               clock=host.clock),
                    database="foo", trigger_name="t", cache=host.store.for_trigger("foo", "t"))
    api.write_sync(LineBuilder("m").int64_field("f", 1), False)
    assert api.query("SELECT count(*) AS lines FROM m") == [{"lines": 1}]


# --- cache ---------------------------------------------------------------------------------


def test_cache_is_the_trigger_cache(host: Host) -> None:
    api = host.api(trigger="one")
    api.cache.put("k", [1])
    assert host.api(trigger="one").cache.get("k") == [1]
    assert host.api(trigger="two").cache.get("k") is None


def test_reading_cache_sweeps_expired_entries(host: Host) -> None:
    api = host.api()
    api.cache.put("k", 1, ttl=1)
    host.clock.advance(30)
    cache = api.cache  # the sweep happens on access
    assert host.store.snapshot(cache) == {}


def test_cache_without_sweeper(host: Host) -> None:
    api = PluginAPI(PluginHost(query=host.query, write=host.write, clock=host.clock),
                    database="foo", trigger_name="t", cache=host.store.for_trigger("foo", "t"))
    api.cache.put("k", 1)
    assert api.cache.get("k") == 1


# --- cancellation and surface --------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda a: a.info("x"), id="info"),
        pytest.param(lambda a: a.error("x"), id="error"),
        pytest.param(lambda a: a.query("SELECT 1"), id="query"),
        pytest.param(lambda a: a.write(LineBuilder("m").int64_field("f", 1)), id="write"),
        pytest.param(lambda a: a.write_sync(LineBuilder("m").int64_field("f", 1), True),
                     id="write_sync"),
    ],
)
def test_calls_after_stop_raise_keyboard_interrupt(host: Host, api: PluginAPI,
                                                   call: Any) -> None:
    host.cancelled = True
    with pytest.raises(PluginCallCancelled) as caught:
        call(api)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert not isinstance(caught.value, Exception)  # `except Exception` cannot swallow it
    assert "aborting plugin execution" in str(caught.value)
    assert host.applied == []
    assert api.pending_writes() == {}


def test_cache_keeps_working_after_stop(host: Host, api: PluginAPI) -> None:
    host.cancelled = True
    api.cache.put("k", 1)
    assert api.cache.get("k") == 1


def test_plugin_surface_includes_the_reference_names(api: PluginAPI) -> None:
    public = {name for name in dir(api) if not name.startswith("_")}
    plugin_names = {"info", "warn", "error", "query", "write", "write_to_db", "write_sync",
                    "write_sync_to_db", "cache"}
    engine_names = {"pending_writes", "discard_writes", "log_lines", "log_entries", "result"}
    assert public == plugin_names | engine_names


def test_concurrent_writes_from_plugin_threads(api: PluginAPI) -> None:
    def worker(n: int) -> None:
        for i in range(200):
            api.write(LineBuilder(f"m{n}").int64_field("i", i))
            api.info(n, i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = api.pending_writes()["foo"]
    assert len(lines) == 800
    for n in range(4):
        assert [line for line in lines if line.startswith(f"m{n} ")] == [
            f"m{n} i={i}i" for i in range(200)
        ]
    assert len(api.log_lines) == 800


def test_log_entry_type_is_observability_entry(host: Host, api: PluginAPI) -> None:
    api.warn("w")
    (entry,) = host.observability.logs()
    assert isinstance(entry, LogEntry)
    assert entry.level == "WARN"
