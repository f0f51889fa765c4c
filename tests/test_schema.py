"""Specification of engine.schema: table schemas and the check of incoming rows against them."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import SchemaConflict
from engine.lineprotocol import FieldType, parse, parse_to_arrow
from engine.schema import (
    IOX_COLUMN_KEY,
    IOX_TAG,
    MAX_COLUMNS_PER_TABLE,
    Column,
    ColumnKind,
    TableSchema,
    check_batch,
    mark_tags,
)


def lp_table(text: str, measurement: str = "cpu") -> pa.Table:
    """The parse_to_arrow table of `measurement`, its tag columns marked as IOx does."""
    parsed = parse_to_arrow(text, precision="ns", default_time=0)
    assert not parsed.errors, parsed.errors
    tags = {k for p in parse(text, precision="ns").points for k, _ in p.tags}
    return mark_tags(parsed.tables[measurement], tags)


def schema_of(text: str) -> TableSchema:
    result = check_batch(None, "cpu", lp_table(text))
    assert result.rejected == []
    return result.schema


FIELD_LITERALS = {
    FieldType.INT64: ("3i", pa.int64(), "Int64"),
    FieldType.UINT64: ("3u", pa.uint64(), "UInt64"),
    FieldType.FLOAT64: ("3.5", pa.float64(), "Float64"),
    FieldType.BOOL: ("true", pa.bool_(), "Boolean"),
    FieldType.STRING: ('"x"', pa.string(), "Utf8"),
}


@pytest.mark.parametrize("field_type", list(FIELD_LITERALS), ids=str)
def test_new_table_takes_its_schema_from_the_rows(field_type: FieldType) -> None:
    literal, arrow_type, _ = FIELD_LITERALS[field_type]
    result = check_batch(None, "cpu", lp_table(f"cpu,region=eu,host=a value={literal} 10"))
    assert result.rejected == []
    schema = result.schema
    assert schema.names == ["host", "region", "time", "value"]  # sorted, as InfluxDB 3
    assert schema.tags == ["host", "region"]
    assert schema.fields == {"value": field_type}
    stored = schema.arrow_schema
    assert stored.field("host").type == pa.dictionary(pa.int32(), pa.string())
    assert stored.field("time").type == pa.timestamp("ns")
    assert not stored.field("time").nullable
    assert stored.field("value").type == arrow_type


def test_accepted_rows_are_in_the_stored_layout() -> None:
    batch = lp_table("cpu,host=a usage=1.5 10\ncpu,host=b usage=2.5 20")
    accepted = check_batch(None, "cpu", batch).accepted
    assert "_line" not in accepted.column_names
    assert accepted.schema.field("host").type == pa.dictionary(pa.int32(), pa.string())
    assert accepted.schema.field("time").type == pa.timestamp("ns")
    assert accepted.column("host").to_pylist() == ["a", "b"]
    assert accepted.column("time").cast(pa.int64()).to_pylist() == [10, 20]
    assert accepted.column("usage").to_pylist() == [1.5, 2.5]


F = "a field of type "
CONFLICTS = [
    ("float_then_int", "usage=1.5", "usage=2i", F + "float64", F + "int64"),
    ("int_then_uint", "usage=1i", "usage=2u", F + "int64", F + "uint64"),
    ("int_then_float", "usage=1i", "usage=2.0", F + "int64", F + "float64"),
    ("bool_then_string", "usage=true", 'usage="x"', F + "bool", F + "string"),
    ("string_then_bool", 'usage="x"', "usage=false", F + "string", F + "bool"),
]


@pytest.mark.parametrize(("first", "second", "existing", "written"),
                         [c[1:] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS])
def test_a_field_type_conflict_refuses_only_that_line(
    first: str, second: str, existing: str, written: str
) -> None:
    schema = schema_of(f"cpu,host=a {first} 1")
    batch = lp_table(f"cpu,host=a other=1i 2\ncpu,host=b {second} 3\ncpu,host=c other=2i 4")
    result = check_batch(schema, "cpu", batch)
    assert [line for line, _ in result.rejected] == [2]
    message = result.rejected[0][1]
    for part in ("'cpu'", "'usage'", existing, written):
        assert part in message
    assert result.accepted.column("host").to_pylist() == ["a", "c"]
    assert result.schema.fields["usage"] == schema.fields["usage"]
    assert "usage" not in result.accepted.column_names


@pytest.mark.parametrize(
    ("first", "second", "existing", "written"),
    [
        ("cpu,host=a usage=1 1", 'cpu usage=1,host="x" 2', "a tag", "a field of type string"),
        ("cpu,host=a usage=1 1", "cpu,usage=x host=1i 2", "a field of type float64", "a tag"),
    ],
    ids=["tag_written_as_field", "field_written_as_tag"],
)
def test_a_tag_field_conflict_refuses_the_line(
    first: str, second: str, existing: str, written: str
) -> None:
    schema = schema_of(first)
    result = check_batch(schema, "cpu", lp_table(second))
    assert len(result.rejected) == 1
    line, message = result.rejected[0]
    assert line == 1
    assert existing in message and written in message and "'cpu'" in message
    assert result.accepted.num_rows == 0


def test_a_row_that_leaves_the_conflicting_column_empty_passes() -> None:
    schema = schema_of("cpu,host=a usage=1.5 1")
    batch = lp_table("cpu,host=a usage=2i 2\ncpu,host=b load=3i 3")
    result = check_batch(schema, "cpu", batch)
    assert [line for line, _ in result.rejected] == [1]
    assert result.accepted.column("host").to_pylist() == ["b"]
    assert result.schema.fields == {"load": FieldType.INT64, "usage": FieldType.FLOAT64}


def test_new_tags_and_fields_extend_the_schema() -> None:
    schema = schema_of("cpu,host=a usage=1.5 1")
    result = check_batch(schema, "cpu", lp_table("cpu,host=a,dc=x usage=2.5,load=1u 2"))
    assert result.rejected == []
    assert result.schema.tags == ["dc", "host"]
    assert result.schema.fields == {"load": FieldType.UINT64, "usage": FieldType.FLOAT64}


def test_new_columns_of_refused_lines_are_not_added() -> None:
    schema = schema_of("cpu,host=a usage=1.5 1")
    result = check_batch(schema, "cpu", lp_table("cpu,host=a,dc=x usage=2i,extra=1 2"))
    assert len(result.rejected) == 1
    assert result.schema == schema


def test_dictionary_columns_read_as_tags() -> None:
    batch = pa.table({
        "host": pa.array(["a", "b"]).dictionary_encode(),
        "usage": pa.array([1.0, 2.0]),
        "time": pa.array([1, 2], pa.int64()),
    })
    result = check_batch(None, "cpu", batch)
    assert result.schema.tags == ["host"]
    assert result.accepted.column("host").to_pylist() == ["a", "b"]


def test_rows_without_line_numbers_are_numbered_from_one() -> None:
    schema = schema_of("cpu,host=a usage=1.5 1")
    batch = lp_table("cpu,host=a load=1.5 1\ncpu,host=a usage=2i 2").drop_columns(["_line"])
    assert [line for line, _ in check_batch(schema, "cpu", batch).rejected] == [2]


def test_the_default_column_limit_is_influxdb3s_500() -> None:
    assert MAX_COLUMNS_PER_TABLE == 500
    fields = ",".join(f"f{i:03d}=1i" for i in range(498))
    full = check_batch(None, "cpu", lp_table(f"cpu,host=a {fields} 1"))
    assert full.rejected == [] and len(full.schema) == 500
    batch = lp_table("cpu,host=a extra=1i 2\ncpu,host=b f000=2i 3")
    result = check_batch(full.schema, "cpu", batch)
    assert [line for line, _ in result.rejected] == [1]
    assert "limit of 500 columns" in result.rejected[0][1]
    assert "'extra'" in result.rejected[0][1]
    assert result.accepted.column("host").to_pylist() == ["b"]


@pytest.mark.parametrize(("limit", "accepted_new"), [(4, ["a"]), (5, ["a", "b"]), (3, [])],
                         ids=["room_for_one", "room_for_both", "full"])
def test_new_columns_fill_the_limit_in_first_seen_order(
    limit: int, accepted_new: list[str]
) -> None:
    schema = schema_of("cpu,host=x usage=1 1")  # 3 columns
    batch = lp_table("cpu,host=x a=1 2\ncpu,host=x b=1 3\ncpu,host=x usage=2 4")
    result = check_batch(schema, "cpu", batch, max_columns=limit)
    assert sorted(set(result.schema.names) - set(schema.names)) == accepted_new
    assert len(result.rejected) == 2 - len(accepted_new)
    assert result.accepted.num_rows == 1 + len(accepted_new)


def test_a_column_of_an_unsupported_type_is_refused() -> None:
    batch = pa.table({"usage": pa.array([1], pa.int8()), "time": pa.array([1], pa.int64())})
    with pytest.raises(SchemaConflict, match="usage"):
        check_batch(None, "cpu", batch)


def test_schema_round_trips_through_json() -> None:
    schema = schema_of('cpu,host=a,dc=b usage=1.5,n=1i,u=1u,ok=t,s="x" 1')
    assert TableSchema.from_json(schema.to_json()) == schema
    assert TableSchema.from_json(schema.to_json()).arrow_schema == schema.arrow_schema


def test_a_schema_needs_a_time_column() -> None:
    with pytest.raises(ValueError, match="time"):
        TableSchema("cpu", (Column("host", ColumnKind.TAG),))


def test_extended_keeps_existing_definitions() -> None:
    schema = schema_of("cpu,host=a usage=1.5 1")
    same = schema.extended([Column("usage", ColumnKind.FIELD, FieldType.INT64)])
    assert same is schema
    grown = schema.extended([Column("load", ColumnKind.FIELD, FieldType.INT64)])
    assert grown.fields == {"load": FieldType.INT64, "usage": FieldType.FLOAT64}


VALUE_LITERALS = {"int64": "1i", "uint64": "1u", "float64": "1.5", "bool": "t", "string": '"s"'}


@settings(max_examples=150, deadline=None)
@given(
    existing=st.sampled_from(sorted(VALUE_LITERALS)),
    written=st.sampled_from(sorted(VALUE_LITERALS)),
    uses=st.lists(st.booleans(), min_size=1, max_size=12),
)
def test_exactly_the_lines_writing_another_type_are_refused(
    existing: str, written: str, uses: list[bool]
) -> None:
    schema = schema_of(f"cpu,host=a v={VALUE_LITERALS[existing]} 1")
    text = "\n".join(
        f"cpu,host=h{i} n=1i" + (f",v={VALUE_LITERALS[written]}" if used else "") + f" {i + 2}"
        for i, used in enumerate(uses)
    )
    result = check_batch(schema, "cpu", lp_table(text))
    refused = {i + 1 for i, used in enumerate(uses) if used and written != existing}
    assert {line for line, _ in result.rejected} == refused
    kept = [f"h{i}" for i in range(len(uses)) if i + 1 not in refused]
    assert result.accepted.column("host").to_pylist() == kept


def test_mark_tags_sets_the_iox_metadata_and_keeps_the_data() -> None:
    batch = pa.table({"host": ["a"], "s": ["x"], "time": pa.array([1], pa.int64())})
    marked = mark_tags(batch, {"host"})
    assert marked.schema.field("host").metadata == {IOX_COLUMN_KEY: IOX_TAG}
    assert marked.schema.field("s").metadata is None
    assert marked.column("host").chunks[0].buffers() == batch.column("host").chunks[0].buffers()
    result = check_batch(None, "cpu", marked)
    assert result.schema.tags == ["host"] and result.schema.fields == {"s": FieldType.STRING}
