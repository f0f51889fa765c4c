"""Specification of engine.tables: the Arrow table store, duplicate merge, snapshots, eviction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from store_support import write

from engine.errors import SchemaConflict, TableNotFound, TableStoreCorrupt
from engine.lineprotocol import parse_to_arrow
from engine.schema import TableSchema, check_batch, mark_tags
from engine.tables import TableStore

TAG_TYPE = pa.dictionary(pa.int32(), pa.string())


def rows(store: TableStore, db: str, table: str) -> list[dict[str, Any]]:
    """The table's rows as sorted dicts, time as int ns."""
    data = store.arrow(db, table)
    data = data.set_column(data.schema.get_field_index("time"), "time",
                           data.column("time").cast(pa.int64()))
    return sorted(data.to_pylist(), key=lambda r: (r["time"], repr(sorted(r.items()))))


def test_appended_rows_come_back_in_the_stored_layout() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1.5 10\ncpu,host=b usage=2.5,n=3i 20", 1)
    table = store.arrow("db", "cpu")
    assert table.schema.field("host").type == TAG_TYPE
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert not table.schema.field("time").nullable
    assert table.column_names == ["host", "n", "time", "usage"]
    assert rows(store, "db", "cpu") == [
        {"host": "a", "n": None, "time": 10, "usage": 1.5},
        {"host": "b", "n": 3, "time": 20, "usage": 2.5},
    ]


def test_a_growing_schema_fills_older_rows_with_null() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10", 1)
    write(store, "db", "cpu,host=a,dc=eu load=2i 20", 2)
    assert rows(store, "db", "cpu") == [
        {"dc": None, "host": "a", "load": None, "time": 10, "usage": 1.0},
        {"dc": "eu", "host": "a", "load": 2, "time": 20, "usage": None},
    ]
    schema = store.schema("db", "cpu")
    assert schema is not None and schema.tags == ["dc", "host"]


def test_plain_string_columns_of_known_tags_are_tags() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10", 1)
    raw = parse_to_arrow("cpu,host=b usage=2 20", precision="ns", default_time=0).tables["cpu"]
    store.append("db", "cpu", raw, wal_seq=2)
    assert [r["host"] for r in rows(store, "db", "cpu")] == ["a", "b"]


def test_append_refuses_rows_that_conflict_with_the_schema() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10", 1)
    raw = parse_to_arrow("cpu usage=2i 20", precision="ns", default_time=0).tables["cpu"]
    with pytest.raises(SchemaConflict, match="usage"):
        store.append("db", "cpu", raw, wal_seq=2)
    assert len(rows(store, "db", "cpu")) == 1


DUPLICATES = [
    pytest.param(
        ["cpu,host=a usage=1,load=5 10\ncpu,host=a usage=2 10"],
        [{"host": "a", "load": 5.0, "time": 10, "usage": 2.0}],
        id="same_write_last_wins_per_field",
    ),
    pytest.param(
        ["cpu,host=a usage=1,load=5 10", "cpu,host=a usage=2 10"],
        [{"host": "a", "load": 5.0, "time": 10, "usage": 2.0}],
        id="across_appends_omitted_field_keeps_earlier_value",
    ),
    pytest.param(
        ["cpu,host=a usage=1 10", "cpu,host=a usage=2 10", "cpu,host=a usage=3 10"],
        [{"host": "a", "time": 10, "usage": 3.0}],
        id="three_writes_last_wins",
    ),
    pytest.param(
        ["cpu,host=a usage=1 10\ncpu,host=b usage=2 10", "cpu,host=b usage=3 10"],
        [{"host": "a", "time": 10, "usage": 1.0}, {"host": "b", "time": 10, "usage": 3.0}],
        id="only_the_same_tag_set_merges",
    ),
    pytest.param(
        ["cpu usage=1 10", "cpu usage=2 10", "cpu,host=a usage=9 10"],
        [{"host": "a", "time": 10, "usage": 9.0}, {"host": None, "time": 10, "usage": 2.0}],
        id="missing_tag_is_its_own_series",
    ),
    pytest.param(
        ["cpu,host=a usage=1 10", "cpu,host=a usage=2 20", "cpu,host=a usage=3 15"],
        [{"host": "a", "time": 10, "usage": 1.0}, {"host": "a", "time": 15, "usage": 3.0},
         {"host": "a", "time": 20, "usage": 2.0}],
        id="out_of_order_without_duplicates_keeps_every_row",
    ),
    pytest.param(
        ["cpu,host=a usage=1,s=\"x\" 10", "cpu,host=a ok=true 10", "cpu,host=a s=\"y\" 10"],
        [{"host": "a", "ok": True, "s": "y", "time": 10, "usage": 1.0}],
        id="fields_of_every_type_merge",
    ),
]


@pytest.mark.parametrize(("writes", "expected"), DUPLICATES)
def test_duplicate_points_merge_as_influxdb_does(
    writes: list[str], expected: list[dict[str, Any]]
) -> None:
    store = TableStore()
    for seq, text in enumerate(writes, start=1):
        write(store, "db", text, seq)
    assert rows(store, "db", "cpu") == expected


@pytest.mark.parametrize("budget", [None, 0], ids=["resident", "evicted"])
def test_duplicates_merge_across_a_snapshot(tmp_path: Path, budget: int | None) -> None:
    store = TableStore(tmp_path, memory_budget_bytes=budget)
    write(store, "db", "cpu,host=a usage=1,load=5 10\ncpu,host=b usage=1 10", 1)
    store.snapshot(up_to_seq=1)
    write(store, "db", "cpu,host=a usage=2 10", 2)
    expected = [{"host": "a", "load": 5.0, "time": 10, "usage": 2.0},
                {"host": "b", "load": None, "time": 10, "usage": 1.0}]
    assert rows(store, "db", "cpu") == expected
    store.snapshot(up_to_seq=2)
    assert rows(TableStore.open(tmp_path, memory_budget_bytes=budget), "db", "cpu") == expected


def test_duplicates_written_after_a_read_are_merged_on_the_next_read() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10", 1)
    assert rows(store, "db", "cpu")[0]["usage"] == 1.0
    version = store.table_version("db", "cpu")
    write(store, "db", "cpu,host=a usage=2 10", 2)
    assert store.table_version("db", "cpu") != version
    assert rows(store, "db", "cpu") == [{"host": "a", "time": 10, "usage": 2.0}]


def test_reading_does_not_change_a_table_without_duplicates() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10\ncpu,host=b usage=1 10", 1)
    write(store, "db", "cpu,host=a usage=1 20\ncpu,host=b usage=1 20", 2)
    version = store.table_version("db", "cpu")
    store.arrow("db", "cpu")
    store.arrow("db", "cpu")
    assert store.table_version("db", "cpu") == version


def test_snapshot_and_reopen_return_exactly_the_rows_written(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10\nmem,host=a used=5i 10", 1)
    write(store, "db", "cpu,host=b usage=2 20", 2)
    assert store.snapshot(up_to_seq=2) == 2
    write(store, "db", "cpu,host=c usage=3 30", 3)
    assert store.snapshot(up_to_seq=3) == 3
    before = {t: rows(store, "db", t) for t in store.tables("db")}
    reopened = TableStore.open(tmp_path)
    assert reopened.persisted_seq() == 3
    assert reopened.tables("db") == ["cpu", "mem"]
    assert {t: rows(reopened, "db", t) for t in reopened.tables("db")} == before
    assert reopened.schema("db", "cpu") == store.schema("db", "cpu")
    manifest = json.loads((tmp_path / "tables/db/cpu/manifest.json").read_text())
    assert manifest["persisted_seq"] == 3 and len(manifest["files"]) == 2


def test_replaying_records_a_snapshot_covers_adds_nothing(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10", 1)
    store.snapshot(up_to_seq=1)
    reopened = TableStore.open(tmp_path)
    write(reopened, "db", "cpu,host=a usage=1 10", 1)  # replay of record 1
    write(reopened, "db", "cpu,host=b usage=2 20", 2)  # a record after the snapshot
    assert rows(reopened, "db", "cpu") == [{"host": "a", "time": 10, "usage": 1.0},
                                           {"host": "b", "time": 20, "usage": 2.0}]
    assert reopened.persisted_seq() == 1


def test_rows_not_snapshotted_are_not_on_disk(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10", 1)
    store.snapshot(up_to_seq=1)
    write(store, "db", "cpu,host=b usage=2 20", 2)
    assert [r["host"] for r in rows(TableStore.open(tmp_path), "db", "cpu")] == ["a"]


def test_a_snapshot_never_claims_records_it_did_not_write(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10", 1)
    write(store, "db", "cpu,host=a usage=2 20", 2)  # same in-memory chunk as record 1
    assert store.snapshot(up_to_seq=1) == 0
    assert not list((tmp_path / "tables/db").glob("*/*.parquet"))
    assert store.snapshot(up_to_seq=2) == 2
    assert len(rows(TableStore.open(tmp_path), "db", "cpu")) == 2


def test_a_store_without_data_dir_snapshots_nothing() -> None:
    store = TableStore()
    write(store, "db", "cpu,host=a usage=1 10", 1)
    assert store.snapshot(up_to_seq=1) == 0
    assert store.persisted_seq() == 0
    assert len(rows(store, "db", "cpu")) == 1


def test_memory_budget_evicts_persisted_data_and_results_stay_identical(tmp_path: Path) -> None:
    store = TableStore(tmp_path, memory_budget_bytes=2_000)
    for seq in range(1, 6):
        text = "\n".join(f"cpu,host=h{i % 7} usage={seq * 100 + i} {seq * 1000 + i}"
                         for i in range(100))
        write(store, "db", text, seq)
    expected = rows(store, "db", "cpu")
    assert store.resident_bytes() > 2_000
    store.snapshot(up_to_seq=5)
    assert store.resident_bytes() <= 2_000
    assert store.scan("db", "cpu").files
    assert rows(store, "db", "cpu") == expected
    write(store, "db", "cpu,host=new usage=1 1", 6)
    assert len(rows(store, "db", "cpu")) == len(expected) + 1


def test_reopen_under_a_budget_loads_only_what_fits(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    for seq, table in enumerate(["a", "b", "c"], start=1):
        write(store, "db", "\n".join(f"{table},host=h{i} v={i} {i}" for i in range(200)), seq)
    store.snapshot(up_to_seq=3)
    reopened = TableStore.open(tmp_path, memory_budget_bytes=5_000)
    assert reopened.resident_bytes() <= 5_000
    for table in "abc":
        assert rows(reopened, "db", table) == rows(store, "db", table)


def test_drop_database_forgets_it_and_its_files(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10", 1)
    write(store, "other", "cpu,host=a usage=1 10", 2)
    store.snapshot(up_to_seq=2)
    store.drop_database("db")
    assert store.databases() == ["other"]
    assert store.tables("db") == []
    with pytest.raises(TableNotFound):
        store.arrow("db", "cpu")
    assert not (tmp_path / "tables/db").exists()
    assert TableStore.open(tmp_path).databases() == ["other"]


def test_created_databases_survive_a_restart_without_tables(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.create_database("empty")
    assert store.has_database("empty")
    assert TableStore.open(tmp_path).databases() == ["empty"]


@pytest.mark.parametrize(
    ("db", "table"),
    [("db", "Water"), ("db/rp", "a/b"), ("db", ".."), ("db", "_meta.series_profiles"),
     ("db", "temp °C ✓"), ("db", "x" * 300)],
    ids=["mixed_case", "slashes", "dotdot", "dotted", "unicode", "very_long"],
)
def test_any_table_name_persists_inside_the_data_dir(tmp_path: Path, db: str, table: str) -> None:
    store = TableStore(tmp_path)
    batch = pa.table({"v": [1.0], "time": pa.array([5], pa.int64())})
    store.append(db, table, batch, wal_seq=1)
    store.snapshot(up_to_seq=1)
    reopened = TableStore.open(tmp_path)
    assert reopened.tables(db) == [table]
    assert reopened.arrow(db, table).column("v").to_pylist() == [1.0]
    for path in (tmp_path / "tables").rglob("*"):
        assert path.resolve().is_relative_to((tmp_path / "tables").resolve())
        assert len(path.name) < 256


def test_many_tables_and_high_cardinality_tags() -> None:
    store = TableStore()
    text = "\n".join(f"t{i % 250},host=h{i} v={i} {i}" for i in range(50_000))
    write(store, "db", text, 1)
    assert len(store.tables("db")) == 250
    table = store.arrow("db", "t7")
    assert table.num_rows == 200
    assert table.schema.field("host").type == TAG_TYPE
    assert pc.count_distinct(table.column("host").cast(pa.string())).as_py() == 200


def test_many_small_appends_are_consolidated_into_few_batches() -> None:
    store = TableStore()
    for seq in range(1, 201):
        write(store, "db", f"cpu,host=h{seq % 3} v={seq} {seq}", seq)
    scan = store.scan("db", "cpu")
    assert len(scan.batches) < 20
    assert sorted(r["v"] for r in rows(store, "db", "cpu")) == [float(i) for i in range(1, 201)]


def test_memory_held_is_close_to_the_arrow_size() -> None:
    store = TableStore()
    hosts = pa.array([f"h{i % 50}" for i in range(2_000)])
    for seq in range(1, 101):
        times = pa.array(range(seq * 10_000, seq * 10_000 + 2_000), pa.int64())
        batch = mark_tags(pa.table({"host": hosts, "usage": pa.array([seq * 1.5] * 2_000),
                                    "n": times, "time": times}), {"host"})
        store.append("db", "cpu", check_batch(store.schema("db", "cpu"), "cpu", batch).accepted,
                     wal_seq=seq)
    table = store.arrow("db", "cpu")
    assert table.num_rows == 200_000
    assert store.resident_bytes() <= 1.5 * table.nbytes
    assert len(store.scan("db", "cpu").batches) < 10


def test_a_corrupt_manifest_stops_the_store_from_opening(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    write(store, "db", "cpu,host=a usage=1 10", 1)
    store.snapshot(up_to_seq=1)
    (tmp_path / "tables/db/cpu/manifest.json").write_text("{not json")
    with pytest.raises(TableStoreCorrupt, match=r"manifest\.json"):
        TableStore.open(tmp_path)


def test_table_versions_change_only_with_the_data() -> None:
    store = TableStore()
    assert store.table_version("db", "cpu") == 0
    write(store, "db", "cpu,host=a usage=1 10", 1)
    first = store.table_version("db", "cpu")
    db_version = store.database_version("db")
    assert first > 0
    write(store, "db", "mem,host=a used=1 10", 2)
    assert store.table_version("db", "cpu") == first
    assert store.database_version("db") != db_version


def test_empty_batches_create_nothing() -> None:
    store = TableStore()
    store.append("db", "cpu", pa.table({"time": pa.array([], pa.int64())}), wal_seq=1)
    assert store.tables("db") == []
    assert store.schema("db", "cpu") is None


def test_schema_of_unknown_table_is_none() -> None:
    store = TableStore()
    assert store.schema("db", "cpu") is None
    write(store, "db", "cpu,host=a usage=1 10", 1)
    schema = store.schema("db", "cpu")
    assert isinstance(schema, TableSchema) and schema.tags == ["host"]
