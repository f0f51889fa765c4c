"""Specification of engine.query: InfluxDB 3 SQL over the table store with real DataFusion."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from store_support import write

from engine.clock import ManualClock
from engine.errors import DatabaseNotFound, QueryError
from engine.query import QueryEngine
from engine.query_values import to_rows
from engine.tables import TableScan, TableStore

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T0 = int(START.timestamp()) * 1_000_000_000
MINUTE = 60 * 1_000_000_000
HOSTS = ["server01", "server02"]


def usage(host: str, minute: int) -> float:
    return HOSTS.index(host) * 10 + minute / 10


def fixture_lp() -> str:
    lines = []
    for host in HOSTS:
        for minute in range(0, 60, 10):
            lines.append(
                f"cpu,host={host},region=us-west usage_user={usage(host, minute)},"
                f"usage_system={minute}i,count={minute}u,ok={str(minute % 20 == 0).lower()},"
                f'status="m{minute}" {T0 + minute * MINUTE}'
            )
    lines.append(f"mem,host=server01 used=5i {T0}")
    return "\n".join(lines)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START + dt.timedelta(hours=1))


@pytest.fixture
def store() -> TableStore:
    tables = TableStore()
    write(tables, "db", fixture_lp(), 1)
    return tables


@pytest.fixture
def engine(store: TableStore, clock: ManualClock) -> QueryEngine:
    return QueryEngine(store, clock)


def ns(minute: int) -> int:
    return T0 + minute * MINUTE


SQL_CASES = [
    pytest.param(
        "SELECT date_bin(INTERVAL '30 minutes', time) AS bucket, host, avg(usage_user) AS u "
        "FROM cpu GROUP BY 1, 2 ORDER BY 1, 2",
        None,
        [{"bucket": ns(b), "host": h, "u": sum(usage(h, m) for m in range(b, b + 30, 10)) / 3}
         for b in (0, 30) for h in HOSTS],
        id="date_bin_2_args",
    ),
    pytest.param(
        "SELECT DATE_BIN(INTERVAL '20 minutes', time, '1970-01-01T00:00:00Z') AS _time, "
        "count(*) AS n FROM cpu WHERE host = 'server01' GROUP BY _time ORDER BY _time",
        None,
        [{"_time": ns(b), "n": 2} for b in (0, 20, 40)],
        id="date_bin_with_origin",
    ),
    pytest.param(
        "SELECT host, time FROM cpu WHERE time > now() - INTERVAL '15 minutes' ORDER BY host",
        None,
        [{"host": h, "time": ns(50)} for h in HOSTS],
        id="now_minus_interval_uses_the_clock",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE time >= to_timestamp('2025-01-01T00:40:00Z')",
        None, [{"n": 4}], id="to_timestamp_rfc3339",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE time >= '2025-01-01T00:30:00Z'",
        None, [{"n": 6}], id="time_vs_string_literal",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE time >= '2025-01-01 00:30:00+00:00'",
        None, [{"n": 6}], id="time_vs_python_str_datetime",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM 'cpu'", None, [{"n": 12}], id="single_quoted_table",
    ),
    pytest.param(
        'SELECT count(*) AS n FROM "cpu"', None, [{"n": 12}], id="double_quoted_table",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM iox.cpu", None, [{"n": 12}], id="schema_qualified_table",
    ),
    pytest.param(
        "SELECT usage_user FROM cpu WHERE host = $host AND time = $t",
        {"host": "server02", "t": "2025-01-01T00:20:00Z"},
        [{"usage_user": usage("server02", 20)}],
        id="params_str_and_time_string",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE usage_system >= $min", {"min": 30},
        [{"n": 6}], id="param_int",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE usage_user > $x", {"x": 12.0},
        [{"n": 3}], id="param_float",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE ok = $flag", {"flag": True},
        [{"n": 6}], id="param_bool",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE count >= $min", {"$min": 50},
        [{"n": 2}], id="param_name_with_dollar_against_uint64",
    ),
    pytest.param(
        "SELECT count(*) AS n FROM cpu WHERE host IN ($a, $b)", {"a": "server01", "b": "nope"},
        [{"n": 6}], id="params_in_list",
    ),
    pytest.param(
        "SELECT time, usage_system FROM cpu WHERE host = 'server01' "
        "ORDER BY time DESC LIMIT 2 OFFSET 1",
        None, [{"time": ns(40), "usage_system": 40}, {"time": ns(30), "usage_system": 30}],
        id="order_limit_offset",
    ),
    pytest.param(
        "SELECT host, first_value(usage_user ORDER BY time) AS f, "
        "last_value(usage_user ORDER BY time) AS l FROM cpu GROUP BY host ORDER BY host",
        None,
        [{"host": h, "f": usage(h, 0), "l": usage(h, 50)} for h in HOSTS],
        id="first_last_value",
    ),
    pytest.param(
        "SELECT DISTINCT region FROM cpu", None, [{"region": "us-west"}], id="distinct_tag",
    ),
    pytest.param(
        "SELECT min(time) AS a, max(time) AS b, sum(usage_system) AS s, "
        "median(usage_user) AS m FROM cpu WHERE host = 'server01'",
        None, [{"a": ns(0), "b": ns(50), "s": 150, "m": 2.5}], id="aggregates",
    ),
    pytest.param(
        "SELECT status, ok FROM cpu WHERE host = 'server01' AND time = '2025-01-01T00:20:00Z'",
        None, [{"status": "m20", "ok": True}], id="string_and_bool_fields",
    ),
    pytest.param(
        "SELECT * FROM mem", None, [{"host": "server01", "time": T0, "used": 5}],
        id="select_star_columns_sorted_by_name",
    ),
]


@pytest.mark.parametrize(("sql", "params", "expected"), SQL_CASES)
def test_sql_as_influxdb3_answers_it(
    engine: QueryEngine, sql: str, params: dict[str, Any] | None, expected: list[dict[str, Any]]
) -> None:
    assert engine.query("db", sql, params) == expected


def test_now_follows_the_injected_clock(engine: QueryEngine, clock: ManualClock) -> None:
    first = engine.query("db", "SELECT now() AS n, current_timestamp AS c")
    assert first == [{"n": T0 + 60 * MINUTE, "c": T0 + 60 * MINUTE}]
    clock.advance(90)
    assert engine.query("db", "SELECT now() AS n")[0]["n"] == T0 + 60 * MINUTE + 90 * 10**9
    assert engine.query("db", "SELECT arrow_typeof(now()) AS t") == [{"t": "Timestamp(ns)"}]
    clock.set(dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC))
    assert engine.query("db", "SELECT current_date AS d, current_time() AS t") == [
        {"d": dt.date(2025, 3, 4), "t": ((5 * 60 + 6) * 60 + 7) * 10**9}]


def test_now_without_a_clock_is_datafusions(store: TableStore) -> None:
    engine = QueryEngine(store)
    now = engine.query("db", "SELECT now() AS n")[0]["n"]
    assert now > T0  # the wall clock, long after the fixture's 2025 start


def test_query_arrow_keeps_arrow_types(engine: QueryEngine) -> None:
    table = engine.query_arrow("db", "SELECT host, time, count FROM cpu LIMIT 1")
    assert table.schema.field("host").type == pa.dictionary(pa.int32(), pa.string())
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert table.schema.field("count").type == pa.uint64()


def test_query_rows_have_int_ns_times_and_str_tags(engine: QueryEngine) -> None:
    row = engine.query("db", "SELECT * FROM cpu ORDER BY time, host LIMIT 1")[0]
    assert row == {"count": 0, "host": "server01", "ok": True, "region": "us-west",
                   "status": "m0", "time": T0, "usage_system": 0, "usage_user": 0.0}
    assert type(row["time"]) is int and type(row["host"]) is str


def test_show_tables_lists_base_tables_like_influxdb(engine: QueryEngine) -> None:
    rows = engine.query("db", "SHOW TABLES")
    base = sorted((r["table_schema"], r["table_name"]) for r in rows
                  if r["table_type"] == "BASE TABLE")
    assert base == [("iox", "cpu"), ("iox", "mem")]
    assert {r["table_catalog"] for r in rows} == {"public"}
    assert ("information_schema", "columns") in {(r["table_schema"], r["table_name"])
                                                for r in rows}


def test_show_columns(engine: QueryEngine) -> None:
    rows = engine.query("db", "SHOW COLUMNS FROM mem")
    assert [(r["column_name"], r["data_type"]) for r in rows] == [
        ("host", "Dictionary(Int32, Utf8)"), ("time", "Timestamp(ns)"), ("used", "Int64")]


def test_information_schema_uses_influxdb_type_names(engine: QueryEngine) -> None:
    rows = engine.query(
        "db",
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'cpu' ORDER BY column_name",
    )
    assert [(r["column_name"], r["data_type"], r["is_nullable"]) for r in rows] == [
        ("count", "UInt64", "YES"),
        ("host", "Dictionary(Int32, Utf8)", "YES"),
        ("ok", "Boolean", "YES"),
        ("region", "Dictionary(Int32, Utf8)", "YES"),
        ("status", "Utf8", "YES"),
        ("time", "Timestamp(ns)", "NO"),
        ("usage_system", "Int64", "YES"),
        ("usage_user", "Float64", "YES"),
    ]


def test_string_casts_stay_utf8(engine: QueryEngine) -> None:
    rows = engine.query("db", "SELECT arrow_typeof(CAST(host AS VARCHAR)) AS t FROM mem")
    assert rows == [{"t": "Utf8"}]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO cpu (host, time, usage_user) VALUES ('x', now(), 1.0)",
        "DELETE FROM cpu",
        "UPDATE cpu SET usage_user = 0",
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{dir}/x.csv'",
        "DROP TABLE cpu",
        "COPY cpu TO '{dir}/out.parquet'",
        "SET datafusion.execution.batch_size = 1",
    ],
    ids=["insert", "delete", "update", "create_table", "create_view", "external_table",
         "drop_table", "copy", "set"],
)
def test_statements_that_change_anything_are_refused(
    engine: QueryEngine, sql: str, tmp_path: Path
) -> None:
    sql = sql.format(dir=tmp_path)
    with pytest.raises(QueryError, match="read-only") as info:
        engine.query("db", sql)
    assert info.value.db == "db" and info.value.sql == sql
    assert engine.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 12}]
    tables = {r["table_name"] for r in engine.query("db", "SHOW TABLES")
              if r["table_schema"] == "iox"}
    assert tables == {"cpu", "mem"}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "value", [None, [1], {"a": 1}, b"x", 2**70, dt.datetime(2025, 1, 1)],
    ids=["none", "list", "dict", "bytes", "int_too_big", "datetime"],
)
def test_unsupported_parameter_values_are_refused(engine: QueryEngine, value: Any) -> None:
    with pytest.raises(QueryError, match=r"parameter \$p"):
        engine.query("db", "SELECT count(*) FROM cpu WHERE host = $p", {"p": value})


def test_parameters_are_bound_as_values_not_spliced_into_sql(engine: QueryEngine) -> None:
    sneaky = "server01' OR '1'='1"
    assert engine.query("db", "SELECT count(*) AS n FROM cpu WHERE host = $h",
                        {"h": sneaky}) == [{"n": 0}]


def test_a_missing_parameter_is_a_query_error(engine: QueryEngine) -> None:
    with pytest.raises(QueryError):
        engine.query("db", "SELECT count(*) FROM cpu WHERE host = $h")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [("SELECT * FROM not_here", "table 'public.iox.not_here' not found"),
     ("SELEC 1", "SELEC"),
     ("SELECT nope FROM cpu", "nope"),
     ("SELECT 1; SELECT 2", "")],
    ids=["unknown_table", "syntax", "unknown_column", "two_statements"],
)
def test_failures_raise_query_error_naming_db_sql_and_reason(
    engine: QueryEngine, sql: str, reason: str
) -> None:
    with pytest.raises(QueryError) as info:
        engine.query("db", sql)
    assert reason in info.value.reason
    assert "'db'" in str(info.value) and sql in str(info.value)


def test_unknown_database(engine: QueryEngine) -> None:
    with pytest.raises(DatabaseNotFound):
        engine.query("nope", "SELECT 1")


def test_new_rows_are_visible_to_the_next_query(engine: QueryEngine, store: TableStore) -> None:
    assert engine.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 12}]
    write(store, "db", f"cpu,host=server03 usage_user=1 {T0}\ndisk,host=a free=1i {T0}", 2)
    assert engine.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 13}]
    assert engine.query("db", "SELECT free FROM disk") == [{"free": 1}]


class CountingStore(TableStore):
    """A real table store that also counts the scans queries make."""

    def __init__(self) -> None:
        super().__init__()
        self.scans: list[str] = []

    def scan(self, db: str, table: str) -> TableScan:
        self.scans.append(table)
        return super().scan(db, table)


def test_unchanged_tables_are_not_registered_again(clock: ManualClock) -> None:
    store = CountingStore()
    write(store, "db", fixture_lp(), 1)
    engine = QueryEngine(store, clock)
    engine.query("db", "SELECT count(*) FROM cpu")
    assert sorted(store.scans) == ["cpu", "mem"]
    for _ in range(3):
        engine.query("db", "SELECT count(*) FROM cpu")
    assert len(store.scans) == 2
    write(store, "db", f"mem,host=b used=1i {T0 + 1}", 2)
    assert engine.query("db", "SELECT count(*) AS n FROM mem") == [{"n": 2}]
    assert sorted(store.scans) == ["cpu", "mem", "mem"]


def test_duplicates_are_merged_in_query_results(engine: QueryEngine, store: TableStore) -> None:
    write(store, "db", f"cpu,host=server01,region=us-west usage_user=99 {T0}", 2)
    rows = engine.query("db", f"SELECT usage_user, usage_system FROM cpu "
                              f"WHERE host = 'server01' AND time = to_timestamp_nanos({T0})")
    assert rows == [{"usage_user": 99.0, "usage_system": 0}]
    assert engine.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 12}]


def test_dropped_databases_disappear(engine: QueryEngine, store: TableStore) -> None:
    engine.query("db", "SELECT 1")
    store.drop_database("db")
    with pytest.raises(DatabaseNotFound):
        engine.query("db", "SELECT 1")
    write(store, "db", f"other,host=a v=1 {T0}", 2)
    assert engine.query("db", "SELECT count(*) AS n FROM other") == [{"n": 1}]
    with pytest.raises(QueryError, match="cpu"):
        engine.query("db", "SELECT * FROM cpu")


def test_evicted_tables_give_identical_results(tmp_path: Path, clock: ManualClock) -> None:
    store = TableStore(tmp_path, memory_budget_bytes=0)
    write(store, "db", fixture_lp(), 1)
    engine = QueryEngine(store, clock)
    sql = "SELECT host, sum(usage_user) AS s, max(status) AS m FROM cpu GROUP BY host ORDER BY host"
    expected = engine.query("db", sql)
    store.snapshot(up_to_seq=1)
    assert store.scan("db", "cpu").files
    assert engine.query("db", sql) == expected
    write(store, "db", f"cpu,host=server01 usage_user=100 {T0 + 99 * MINUTE}", 2)
    assert engine.query("db", sql)[0]["s"] == expected[0]["s"] + 100
    types = engine.query("db", "SELECT data_type FROM information_schema.columns "
                               "WHERE table_name = 'cpu' AND column_name = 'host'")
    assert types == [{"data_type": "Dictionary(Int32, Utf8)"}]


@pytest.mark.parametrize(
    ("table", "sql"),
    [("_meta.series_profiles", 'SELECT v FROM "_meta.series_profiles"'),
     ("Water", 'SELECT v FROM "Water"'),
     ("Water", "SELECT v FROM 'Water'"),
     ('we"ird', 'SELECT v FROM "we""ird"')],
    ids=["dotted", "mixed_case_double", "mixed_case_single", "embedded_quote"],
)
def test_tables_with_any_name_are_queryable(table: str, sql: str) -> None:
    store = TableStore()
    store.append("db", table, pa.table({"v": [1.0], "time": pa.array([T0], pa.int64())}),
                 wal_seq=1)
    assert QueryEngine(store).query("db", sql) == [{"v": 1.0}]


def test_system_tables_are_built_per_database_at_query_time(engine: QueryEngine,
                                                            store: TableStore) -> None:
    calls: list[str] = []
    state = {"n": 1}

    def triggers(db: str) -> pa.Table:
        calls.append(db)
        return pa.table({"trigger_name": [f"{db}-t{i}" for i in range(state["n"])]})

    engine.register_system_table("processing_engine_triggers", triggers)
    write(store, "other", f"x v=1 {T0}", 2)
    sql = "SELECT trigger_name FROM system.processing_engine_triggers ORDER BY trigger_name"
    assert engine.query("db", sql) == [{"trigger_name": "db-t0"}]
    state["n"] = 2
    assert engine.query("other", sql) == [{"trigger_name": "other-t0"},
                                          {"trigger_name": "other-t1"}]
    assert engine.query("db", sql) == [{"trigger_name": "db-t0"}, {"trigger_name": "db-t1"}]
    assert calls[-1] == "db"
    tables = engine.query("db", "SHOW TABLES")
    assert {"table_schema": "system", "table_name": "processing_engine_triggers",
            "table_catalog": "public", "table_type": "BASE TABLE"} in tables
    with pytest.raises(QueryError, match=r"system\.nope"):
        engine.query("db", "SELECT * FROM system.nope")


def test_many_tables_and_high_cardinality(clock: ManualClock) -> None:
    store = TableStore()
    text = "\n".join(f"t{i % 100},host=h{i} v={i} {T0 + i}" for i in range(20_000))
    write(store, "db", text, 1)
    engine = QueryEngine(store, clock)
    assert engine.query("db", "SELECT count(DISTINCT host) AS n FROM t42") == [{"n": 200}]
    rows = engine.query("db", "SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = 'iox'")
    assert len(rows) == 100


VALUE_CASES = [
    pytest.param("CAST(1.25 AS DECIMAL(10, 2))", decimal.Decimal("1.25"), id="decimal"),
    pytest.param("DATE '2024-02-29'", dt.date(2024, 2, 29), id="date32"),
    pytest.param("make_array(1, 2, NULL)", [1, 2, None], id="list"),
    pytest.param("named_struct('a', 1, 'b', 'x')", {"a": 1, "b": "x"}, id="struct"),
    pytest.param("make_array(to_timestamp_nanos(5))", [5], id="list_of_timestamps"),
    pytest.param("named_struct('t', to_timestamp_seconds(2))", {"t": 2_000_000_000},
                 id="struct_with_timestamp_seconds"),
    pytest.param("to_timestamp_millis(1500)", 1_500_000_000, id="timestamp_ms"),
    pytest.param("to_timestamp_micros(7)", 7_000, id="timestamp_us"),
    pytest.param("arrow_cast(9, 'Timestamp(Nanosecond, Some(\"+01:00\"))')",
                 9, id="timestamp_with_time_zone"),
    pytest.param("arrow_cast(3, 'Duration(Second)')", 3_000_000_000, id="duration"),
    pytest.param("arrow_cast('a', 'Utf8View')", "a", id="utf8view"),
    pytest.param("arrow_cast('a', 'LargeUtf8')", "a", id="large_utf8"),
    pytest.param("arrow_cast('ab', 'Binary')", b"ab", id="binary"),
    pytest.param("arrow_cast(1.5, 'Float16')", 1.5, id="float16"),
    pytest.param("arrow_cast(1, 'Int8')", 1, id="int8"),
    pytest.param("arrow_cast(1.5, 'Float32')", 1.5, id="float32"),
    pytest.param("arrow_cast('12:00:01', 'Time64(Nanosecond)')", 43_201_000_000_000,
                 id="time_of_day"),
    pytest.param("map(['k'], [1])", {"k": 1}, id="map"),
    pytest.param("NULL", None, id="null"),
    pytest.param("INTERVAL '1 day 2 hours'", (0, 1, 2 * 3600 * 10**9), id="interval"),
]


@pytest.mark.parametrize(("expr", "expected"), VALUE_CASES)
def test_every_arrow_type_becomes_a_plain_python_value(
    engine: QueryEngine, expr: str, expected: Any
) -> None:
    value = engine.query("db", f"SELECT {expr} AS v")[0]["v"]
    assert value == expected
    if isinstance(expected, tuple):
        value = tuple(value)
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([[1, 2]], pa.list_view(pa.timestamp("s"))), [1_000_000_000, 2_000_000_000]),
        (pa.array([1], pa.time32("ms")), 1_000_000),
        (pa.array([dt.date(2020, 1, 2)], pa.date64()), dt.date(2020, 1, 2)),
        (pa.array([[1]], pa.large_list(pa.duration("us"))), [1_000]),
        (pa.array(["x"]).dictionary_encode(), "x"),
        (pa.array([b"ab"], pa.binary(2)), b"ab"),
    ],
    ids=["list_view_of_timestamps", "time32", "date64", "large_list_durations", "dictionary",
         "fixed_size_binary"],
)
def test_to_rows_converts_types_datafusion_rarely_returns(array: pa.Array, expected: Any) -> None:
    assert to_rows(pa.table({"v": array})) == [{"v": expected}]


def test_to_rows_of_an_empty_projection_keeps_the_row_count() -> None:
    assert to_rows(pa.table({"v": [1, 2]}).select([])) == [{}, {}]


def test_evicting_a_table_frees_the_memory_its_query_context_held(tmp_path: Path) -> None:
    store = TableStore(tmp_path, memory_budget_bytes=0)
    values = pa.array(range(200_000), pa.float64())
    store.append("db", "big", pa.table({"v": values, "time": pa.array(range(200_000))}),
                 wal_seq=1)
    del values
    engine = QueryEngine(store)
    assert engine.query("db", "SELECT count(*) AS n FROM big") == [{"n": 200_000}]
    held = pa.total_allocated_bytes()
    store.snapshot(up_to_seq=1)
    assert pa.total_allocated_bytes() <= held - 3_000_000  # 3.2 MB of rows left memory
    assert engine.query("db", "SELECT sum(v) AS s FROM big") == [{"s": sum(range(200_000))}]
