"""Table batches: dicts as real plugins expect, with attribute access and lazy rows."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import wal_rows
from engine.batches import TableBatch, sparse_rows
from engine.schema import mark_tags


def _batch(calls: list[int]) -> TableBatch:
    arrow = pa.table({"host": ["a", "b"], "v": [1.0, None], "time": [1, 2]})

    def rows() -> list[dict[str, object]]:
        calls.append(1)
        return [{"host": "a", "v": 1.0, "time": 1}, {"host": "b", "time": 2}]

    return TableBatch("cpu", arrow, rows)


def test_rows_are_built_once_and_only_when_asked() -> None:
    calls: list[int] = []
    batch = _batch(calls)
    assert batch.to_arrow().num_rows == 2
    assert calls == []
    assert batch["rows"][1] == {"host": "b", "time": 2}
    assert batch.rows is batch["rows"]
    assert calls == [1]


def test_behaves_as_a_plain_dict() -> None:
    batch = _batch([])
    expected = {"table_name": "cpu", "rows": [{"host": "a", "v": 1.0, "time": 1},
                                              {"host": "b", "time": 2}]}
    assert dict(batch) == expected
    assert {**batch} == expected
    assert json.loads(json.dumps(batch)) == expected
    assert batch == expected
    assert batch.get("rows") == expected["rows"]
    assert sorted(batch.keys()) == ["rows", "table_name"]
    assert batch.table_name == "cpu"
    assert isinstance(batch, dict)


def test_items_and_values_build_rows() -> None:
    batch = _batch([])
    assert dict(batch.items())["rows"][0]["host"] == "a"
    assert list(batch.values())[1][1]["time"] == 2


# --- row dicts from Arrow (the fast path must agree with the plain one) -------------------------

_TYPES = {
    "tag": pa.dictionary(pa.int32(), pa.string()),
    "str": pa.string(),
    "f64": pa.float64(),
    "i64": pa.int64(),
    "u64": pa.uint64(),
    "bool": pa.bool_(),
}
_VALUES = {
    "tag": st.sampled_from(["a", "b", "", "é"]),
    "str": st.text(max_size=5),
    "f64": st.floats(allow_nan=False),
    "i64": st.integers(-(2**63), 2**63 - 1),
    "u64": st.integers(0, 2**64 - 1),
    "bool": st.booleans(),
}


@st.composite
def _tables(draw: st.DrawFn) -> pa.Table:
    kinds = draw(st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=6))
    rows = draw(st.integers(0, 12))
    columns: dict[str, pa.Array] = {}
    for index, kind in enumerate(kinds):
        values = draw(st.lists(st.none() | _VALUES[kind], min_size=rows, max_size=rows))
        array = pa.array(values, pa.string() if kind == "tag" else _TYPES[kind])
        columns[f"{kind}{index}"] = array.dictionary_encode() if kind == "tag" else array
    times = draw(st.lists(st.integers(0, 2**62), min_size=rows, max_size=rows))
    columns["time"] = pa.array(times, pa.timestamp("ns"))
    table = pa.table(columns)
    cut = draw(st.integers(0, rows))
    # Several chunks, some sliced (non-zero offsets), as concatenated writes give.
    return pa.concat_tables([table.slice(0, cut), table.slice(cut), table.slice(cut // 2)])


@settings(max_examples=150, deadline=None)
@given(_tables())
def test_sparse_rows_agree_with_plain_conversion(table: pa.Table) -> None:
    fast = sparse_rows(table)
    plain = wal_rows.sparse_rows(table)
    assert fast == plain
    assert [list(row) for row in fast] == [list(row) for row in plain]
    assert [[type(v) for v in row.values()] for row in fast] == [
        [type(v) for v in row.values()] for row in plain
    ]


def test_sparse_rows_shape() -> None:
    table = pa.table({
        "v": pa.array([1.5, None], pa.float64()),
        "host": pa.array(["a", None]).dictionary_encode(),
        "n": pa.array([None, 2**64 - 1], pa.uint64()),
        "time": pa.array([10, 20], pa.timestamp("ns")),
    })
    assert sparse_rows(table) == [
        {"host": "a", "v": 1.5, "time": 10},
        {"n": 2**64 - 1, "time": 20},
    ]
    assert list(sparse_rows(table)[0]) == ["host", "v", "time"]  # tags, fields, time


def test_rows_share_no_dicts_between_calls() -> None:
    table = pa.table({"v": [1.0], "time": pa.array([1], pa.timestamp("ns"))})
    first, second = sparse_rows(table), sparse_rows(table)
    first[0]["v"] = 99.0
    assert second == [{"v": 1.0, "time": 1}]


def test_arrow_is_built_once_and_only_when_asked() -> None:
    calls: list[int] = []
    arrow = pa.table({"time": pa.array([1, 2], pa.int64())})

    def make() -> pa.Table:
        calls.append(1)
        return arrow

    batch = TableBatch("cpu", make, list, num_rows=2)
    assert batch.num_rows == 2
    assert calls == []
    assert batch.to_arrow() is arrow
    assert batch.to_arrow() is arrow
    assert calls == [1]


def test_columns_with_iox_tag_metadata_come_first() -> None:
    table = mark_tags(pa.table({
        "host": pa.array(["a"]),
        "v": pa.array([1.0]),
        "region": pa.array(["x"]),
        "time": pa.array([5], pa.timestamp("ns")),
    }), ["host", "region"])
    assert [list(row) for row in sparse_rows(table)] == [["host", "region", "v", "time"]]
