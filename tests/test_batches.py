"""Table batches: dicts as real plugins expect, with attribute access and lazy rows."""

from __future__ import annotations

import json

import pyarrow as pa

from engine.batches import TableBatch


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
