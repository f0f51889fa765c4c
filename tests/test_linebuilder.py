"""LineBuilder: the reference server's outputs, checks, error messages and escaping."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.linebuilder import (
    PLUGIN_BUILTINS,
    InfluxDBError,
    InvalidKeyError,
    InvalidLineError,
    InvalidMeasurementError,
    LineBuilder,
)
from engine.lineprotocol import FieldType, Point, parse


def _metrics() -> LineBuilder:
    return (
        LineBuilder("metrics")
        .tag("host", "server01")
        .tag("region", "us-west")
        .int64_field("cpu", 42)
        .uint64_field("memory_bytes", 8589934592)
        .float64_field("load", 86.5)
        .string_field("status", "online")
        .bool_field("healthy", True)
        .time_ns(1609459200000000000)
    )


def _complex() -> LineBuilder:
    return (
        LineBuilder("complex,measurement")
        .tag("location", "New York, USA")
        .tag("details", "floor=5, room=3")
        .tag("path", r"C:\Users\Admin\Documents")
        .string_field("message", 'Error in line: "x = y + z"')
        .string_field("query", 'SELECT * FROM table WHERE id="abc"')
        .float64_field("value", 123.456)
        .time_ns(1609459200000000000)
    )


def _other_table() -> LineBuilder:
    line = LineBuilder("other_table")
    line.int64_field("other_field", 1)
    line.float64_field("other_field2", 3.14)
    line.time_ns(1302)
    return line


# Inputs and outputs of the reference server's own LineBuilder tests
# (influxdb3 `test_linebuilder_escaping` and `test_wal_plugin_test`).
REFERENCE_CASES = [
    pytest.param(
        _metrics,
        'metrics,host=server01,region=us-west cpu=42i,memory_bytes=8589934592u,load=86.5,'
        'status="online",healthy=t 1609459200000000000',
        id="all-field-types",
    ),
    pytest.param(
        lambda: LineBuilder("system_metrics").tag("server", "app server 1")
        .tag("datacenter", "us west").int64_field("count", 1),
        r"system_metrics,server=app\ server\ 1,datacenter=us\ west count=1i",
        id="spaces-in-tag-values",
    ),
    pytest.param(
        lambda: LineBuilder("network").tag("servers", "web,app,db")
        .tag("location", "floor1,rack3").int64_field("connections", 256),
        r"network,servers=web\,app\,db,location=floor1\,rack3 connections=256i",
        id="commas-in-tag-values",
    ),
    pytest.param(
        lambda: LineBuilder("formulas").tag("equation", "y=mx+b").tag("result", "a=b=c")
        .float64_field("value", 3.14159),
        r"formulas,equation=y\=mx+b,result=a\=b\=c value=3.14159",
        id="equals-in-tag-values",
    ),
    pytest.param(
        lambda: LineBuilder("paths").tag("windows_path", r"C:\Program Files\App")
        .tag("regex", r"\d+\w+").string_field("description", r"Windows\Unix paths")
        .int64_field("count", 42),
        r'paths,windows_path=C:\\Program\ Files\\App,regex=\\d+\\w+ '
        r'description="Windows\\Unix paths",count=42i',
        id="backslashes",
    ),
    pytest.param(
        lambda: LineBuilder("messages").tag("type", "notification")
        .string_field("content", 'User said "Hello World"')
        .string_field("json", '{"key": "value"}').int64_field("priority", 1),
        r'messages,type=notification content="User said \"Hello World\"",'
        r'json="{\"key\": \"value\"}",priority=1i',
        id="quotes-in-string-fields",
    ),
    pytest.param(
        _complex,
        r'complex\,measurement,location=New\ York\,\ USA,details=floor\=5\,\ room\=3,'
        r'path=C:\\Users\\Admin\\Documents message="Error in line: \"x = y + z\"",'
        r'query="SELECT * FROM table WHERE id=\"abc\"",value=123.456 1609459200000000000',
        id="complex-escaping",
    ),
    pytest.param(
        lambda: LineBuilder("memory_stats").tag("host", "server1").int64_field("usage", 75),
        "memory_stats,host=server1 usage=75i",
        id="write-to-db-line",
    ),
    pytest.param(
        lambda: LineBuilder("sensor_data").tag("device", "thermostat")
        .tag("room", "living room").tag("floor", "1").float64_field("temperature", 72.5)
        .int64_field("humidity", 45).string_field("mode", "auto"),
        r'sensor_data,device=thermostat,room=living\ room,floor=1 '
        r'temperature=72.5,humidity=45i,mode="auto"',
        id="chained",
    ),
    pytest.param(
        lambda: LineBuilder("some_table").tag("tag1", "tag1_value").tag("tag2", "tag2_value")
        .int64_field("field1", 1).float64_field("field2", 2.0)
        .string_field("field3", "number three"),
        'some_table,tag1=tag1_value,tag2=tag2_value field1=1i,field2=2.0,field3="number three"',
        id="integral-float",
    ),
    pytest.param(
        _other_table, "other_table other_field=1i,other_field2=3.14 1302",
        id="unchained-setters",
    ),
]


@pytest.mark.parametrize(("make", "expected"), REFERENCE_CASES)
def test_reference_outputs(make: Callable[[], LineBuilder], expected: str) -> None:
    assert make().build() == expected


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        pytest.param(2.0, "2.0", id="integral"),
        pytest.param(2, "2.0", id="int-argument"),
        pytest.param(-0.0, "0.0", id="negative-zero"),
        pytest.param(-3.0, "-3.0", id="negative-integral"),
        pytest.param(0.1, "0.1", id="fraction"),
        pytest.param(1e20, "100000000000000000000.0", id="large-integral"),
        pytest.param(1.5e-7, "1.5e-07", id="tiny"),
        pytest.param(True, "1.0", id="bool"),
        pytest.param(math.inf, "inf", id="inf"),
        pytest.param(-math.inf, "-inf", id="minus-inf"),
        pytest.param(math.nan, "nan", id="nan"),
    ],
)
def test_float_rendering(value: float, rendered: str) -> None:
    assert LineBuilder("m").float64_field("f", value).build() == f"m f={rendered}"


@pytest.mark.parametrize(
    ("setter", "value", "rendered"),
    [
        pytest.param("int64_field", -5, "-5i", id="negative-int"),
        pytest.param("int64_field", 2**70, f"{2**70}i", id="int-out-of-range-unchecked"),
        pytest.param("uint64_field", 0, "0u", id="uint-zero"),
        pytest.param("uint64_field", 2**64 - 1, f"{2**64 - 1}u", id="uint-max"),
        pytest.param("bool_field", False, "f", id="false"),
        pytest.param("bool_field", 0, "f", id="falsy-int"),
        pytest.param("bool_field", "yes", "t", id="truthy-string"),
        pytest.param("string_field", "", '""', id="empty-string"),
        pytest.param("string_field", "a\nb", '"a\nb"', id="newline-not-escaped"),
        pytest.param("string_field", 'x\\"y', '"x\\\\\\"y"', id="backslash-then-quote"),
    ],
)
def test_field_rendering(setter: str, value: Any, rendered: str) -> None:
    builder = getattr(LineBuilder("m"), setter)("f", value)
    assert builder.build() == f"m f={rendered}"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda: LineBuilder("m").tag("t", 5).int64_field("f", 1),
                     "m,t=5 f=1i", id="tag-value-through-str"),
        pytest.param(lambda: LineBuilder("m").tag("b", "x").tag("a", "y").int64_field("f", 1),
                     "m,b=x,a=y f=1i", id="tags-not-sorted"),
        pytest.param(lambda: LineBuilder("m").int64_field("f", 1).int64_field("g", 2)
                     .int64_field("f", 3), "m f=3i,g=2i", id="overwrite-keeps-position"),
        pytest.param(lambda: LineBuilder("m").tag("t", "a").tag("t", "b").bool_field("f", 1),
                     "m,t=b f=t", id="tag-overwrite"),
        pytest.param(lambda: LineBuilder("m").int64_field("f", 1).string_field("f", "s"),
                     'm f="s"', id="field-type-change"),
        pytest.param(lambda: LineBuilder("m").int64_field("f", 1).time_ns(5).time_ns(7),
                     "m f=1i 7", id="last-time-wins"),
        pytest.param(lambda: LineBuilder("").int64_field("f", 1), " f=1i",
                     id="empty-measurement-not-rejected"),
        pytest.param(lambda: LineBuilder("a\\b").int64_field("f", 1), "a\\b f=1i",
                     id="measurement-backslash-kept"),
        pytest.param(lambda: LineBuilder("m").int64_field("a\\b", 1), "m a\\\\b=1i",
                     id="field-key-backslash-escaped"),
        pytest.param(lambda: LineBuilder("m").tag("t", "a\\").int64_field("f", 1),
                     "m,t=a\\\\ f=1i", id="trailing-backslash-in-tag"),
        pytest.param(lambda: LineBuilder("m").tag("k\\", "v").int64_field("f", 1),
                     "m,k\\=v f=1i", id="tag-key-not-escaped"),
        pytest.param(lambda: LineBuilder("m").tag("t", "").int64_field("f", 1),
                     "m,t= f=1i", id="empty-tag-value-rendered"),
    ],
)
def test_building_rules(make: Callable[[], LineBuilder], expected: str) -> None:
    assert make().build() == expected


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        pytest.param(lambda: LineBuilder("a b"), InvalidMeasurementError,
                     "Measurement name cannot contain spaces", id="measurement-space"),
        pytest.param(lambda: LineBuilder("m").tag("", "v"), InvalidKeyError,
                     "tag key cannot be empty", id="empty-tag-key"),
        pytest.param(lambda: LineBuilder("m").tag("a b", "v"), InvalidKeyError,
                     "tag key 'a b' cannot contain spaces", id="tag-key-space"),
        pytest.param(lambda: LineBuilder("m").tag("a,b", "v"), InvalidKeyError,
                     "tag key 'a,b' cannot contain commas", id="tag-key-comma"),
        pytest.param(lambda: LineBuilder("m").tag("a=b", "v"), InvalidKeyError,
                     "tag key 'a=b' cannot contain equals signs", id="tag-key-equals"),
        pytest.param(lambda: LineBuilder("m").tag("a ,=", "v"), InvalidKeyError,
                     "tag key 'a ,=' cannot contain spaces", id="space-checked-first"),
        pytest.param(lambda: LineBuilder("m").int64_field("", 1), InvalidKeyError,
                     "field key cannot be empty", id="empty-field-key"),
        pytest.param(lambda: LineBuilder("m").float64_field("x y", 1.0), InvalidKeyError,
                     "field key 'x y' cannot contain spaces", id="field-key-space"),
        pytest.param(lambda: LineBuilder("m").string_field("x,y", ""), InvalidKeyError,
                     "field key 'x,y' cannot contain commas", id="field-key-comma"),
        pytest.param(lambda: LineBuilder("m").bool_field("x=y", True), InvalidKeyError,
                     "field key 'x=y' cannot contain equals signs", id="field-key-equals"),
        pytest.param(lambda: LineBuilder("m").uint64_field("u", -1), ValueError,
                     "uint64 field 'u' cannot be negative", id="negative-uint"),
        pytest.param(lambda: LineBuilder("m").uint64_field("", -1), InvalidKeyError,
                     "field key cannot be empty", id="key-checked-before-sign"),
        pytest.param(lambda: LineBuilder("m").build(), InvalidLineError,
                     "At least one field is required: m", id="no-fields"),
        pytest.param(lambda: LineBuilder("some table,x").build(), InvalidMeasurementError,
                     "Measurement name cannot contain spaces", id="space-before-build"),
        pytest.param(lambda: LineBuilder("a,b").tag("t", "x y").time_ns(1).build(),
                     InvalidLineError, r"At least one field is required: a\,b,t=x\ y",
                     id="no-fields-message-shows-escaped-prefix"),
    ],
)
def test_validation_errors(action: Callable[[], object], error: type[Exception],
                           message: str) -> None:
    with pytest.raises(error) as caught:
        action()
    assert str(caught.value) == message
    assert type(caught.value) is error


def test_failed_setter_leaves_builder_unchanged() -> None:
    builder = LineBuilder("m").int64_field("f", 1)
    with pytest.raises(InvalidKeyError):
        builder.tag("bad key", "v")
    with pytest.raises(ValueError, match="cannot be negative"):
        builder.uint64_field("f", -1)
    assert builder.build() == "m f=1i"


def test_public_dicts_hold_rendered_values_in_order() -> None:
    builder = _metrics()
    assert builder.measurement == "metrics"
    assert list(builder.tags.items()) == [("host", "server01"), ("region", "us-west")]
    assert list(builder.fields.items()) == [
        ("cpu", "42i"), ("memory_bytes", "8589934592u"), ("load", "86.5"),
        ("status", '"online"'), ("healthy", "t"),
    ]


def test_build_is_repeatable() -> None:
    builder = _complex()
    assert builder.build() == builder.build()


@pytest.mark.parametrize(
    ("name", "obj"),
    [
        pytest.param("LineBuilder", LineBuilder, id="LineBuilder"),
        pytest.param("InfluxDBError", InfluxDBError, id="InfluxDBError"),
        pytest.param("InvalidMeasurementError", InvalidMeasurementError, id="measurement"),
        pytest.param("InvalidKeyError", InvalidKeyError, id="key"),
        pytest.param("InvalidLineError", InvalidLineError, id="line"),
    ],
)
def test_plugin_builtins(name: str, obj: object) -> None:
    assert PLUGIN_BUILTINS[name] is obj


def test_plugin_builtins_has_nothing_else() -> None:
    assert set(PLUGIN_BUILTINS) == {
        "LineBuilder", "InfluxDBError", "InvalidMeasurementError", "InvalidKeyError",
        "InvalidLineError",
    }


@pytest.mark.parametrize(
    "error", [InvalidMeasurementError, InvalidKeyError, InvalidLineError],
    ids=lambda e: e.__name__,
)
def test_error_hierarchy(error: type[Exception]) -> None:
    assert issubclass(error, InfluxDBError)
    assert issubclass(error, EngineError)
    # A plugin's `except ValueError` must not catch these, as on InfluxDB 3.
    assert not issubclass(error, ValueError)
    assert str(error("custom message")) == "custom message"


# --- round trip through our line-protocol parser --------------------------------------------

_NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=" ,=\\")
_RESERVED = {"time", "__chunk_order"}
_keys = st.text(_NAME_CHARS, min_size=1, max_size=12).filter(lambda k: k not in _RESERVED)
# Field keys and tag values are escaped by the builder, so they may hold backslashes (InfluxDB 3
# refuses any name or tag value that ends with one); measurements and tag keys are not escaped.
_field_keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=" ,="),
    min_size=1, max_size=12,
).filter(lambda k: k not in _RESERVED and not k.endswith("\\"))
_measurements = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=" \\"),
    min_size=1, max_size=12,
).filter(lambda m: not m.startswith("#"))
_tag_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                      max_size=12).filter(lambda v: not v.endswith("\\"))
_field_values = st.one_of(
    st.tuples(st.just("int64_field"), st.just(FieldType.INT64),
              st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just("uint64_field"), st.just(FieldType.UINT64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("float64_field"), st.just(FieldType.FLOAT64),
              st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("bool_field"), st.just(FieldType.BOOL), st.booleans()),
    st.tuples(st.just("string_field"), st.just(FieldType.STRING),
              st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)),
)


@st.composite
def _lines(draw: st.DrawFn) -> tuple[LineBuilder, Point]:
    measurement = draw(_measurements)
    tags = draw(st.dictionaries(_keys, _tag_values, max_size=4))
    fields = draw(st.dictionaries(_field_keys.filter(lambda k: k not in tags), _field_values,
                                  min_size=1, max_size=5))
    time = draw(st.none() | st.integers(-(2**63), 2**63 - 1))
    builder = LineBuilder(measurement)
    for key, value in tags.items():
        builder.tag(key, value)
    for key, (setter, _, value) in fields.items():
        getattr(builder, setter)(key, value)
    if time is not None:
        builder.time_ns(time)
    expected = Point(
        measurement=measurement,
        tags=tuple(tags.items()),
        fields=tuple((key, kind, value) for key, (_, kind, value) in fields.items()),
        time=time,
    )
    return builder, expected


@settings(max_examples=300, deadline=None)
@given(_lines())
def test_output_parses_back_to_the_same_point(line: tuple[LineBuilder, Point]) -> None:
    builder, expected = line
    result = parse(builder.build(), precision="ns")
    assert result.errors == []
    assert result.points == [expected]


@pytest.mark.parametrize(
    "make", [pytest.param(case.values[0], id=case.id) for case in REFERENCE_CASES]
)
def test_reference_outputs_parse(make: Callable[[], LineBuilder]) -> None:
    result = parse(make().build(), precision="ns")
    assert result.errors == []
    assert len(result.points) == 1


def test_reference_output_parses_to_the_values_given() -> None:
    (point,) = parse(_complex().build(), precision="ns").points
    assert point == Point(
        measurement="complex,measurement",
        tags=(("location", "New York, USA"), ("details", "floor=5, room=3"),
              ("path", r"C:\Users\Admin\Documents")),
        fields=(("message", FieldType.STRING, 'Error in line: "x = y + z"'),
                ("query", FieldType.STRING, 'SELECT * FROM table WHERE id="abc"'),
                ("value", FieldType.FLOAT64, 123.456)),
        time=1609459200000000000,
    )


# The builder renders these exactly as InfluxDB 3's does, and the result is not valid line
# protocol there either: plugins developed here hit the same failure at write time.
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: LineBuilder("m\\").int64_field("f", 1),
                     id="measurement-ends-in-backslash"),
        pytest.param(lambda: LineBuilder("m").int64_field("k\\", 1),
                     id="field-key-ends-in-backslash"),
        pytest.param(lambda: LineBuilder("m").tag("t", "v\\").int64_field("f", 1),
                     id="tag-value-ends-in-backslash"),
        pytest.param(lambda: LineBuilder("").int64_field("f", 1), id="empty-measurement"),
        pytest.param(lambda: LineBuilder("m").tag("t", "").int64_field("f", 1),
                     id="empty-tag-value"),
        pytest.param(lambda: LineBuilder("m").tag("k\\", "v").int64_field("f", 1),
                     id="tag-key-ends-in-backslash"),
        pytest.param(lambda: LineBuilder("m").float64_field("f", math.nan), id="nan"),
        pytest.param(lambda: LineBuilder("m").float64_field("f", math.inf), id="inf"),
        pytest.param(lambda: LineBuilder("m").int64_field("f", 2**63), id="int64-overflow"),
        pytest.param(lambda: LineBuilder("m").uint64_field("f", 2**64), id="uint64-overflow"),
        pytest.param(lambda: LineBuilder("m").int64_field("time", 1), id="reserved-field-key"),
        pytest.param(lambda: LineBuilder("m").tag("f", "x").int64_field("f", 1),
                     id="tag-and-field-share-a-key"),
    ],
)
def test_reference_renderings_that_are_not_valid_line_protocol(
        make: Callable[[], LineBuilder]) -> None:
    result = parse(make().build(), precision="ns")
    assert result.points == []
    assert len(result.errors) == 1


# Measurements and tag keys are written unescaped, as InfluxDB 3's builder does, so a `\\`
# sequence in them reads back as a single backslash there and here.
@pytest.mark.parametrize(
    ("make", "point"),
    [
        pytest.param(lambda: LineBuilder("a\\\\b").int64_field("f", 1),
                     Point("a\\b", (), (("f", FieldType.INT64, 1),)), id="measurement"),
        pytest.param(lambda: LineBuilder("m").tag("k\\\\x", "v").int64_field("f", 1),
                     Point("m", (("k\\x", "v"),), (("f", FieldType.INT64, 1),)), id="tag-key"),
    ],
)
def test_unescaped_double_backslashes_read_back_as_one(make: Callable[[], LineBuilder],
                                                       point: Point) -> None:
    assert parse(make().build(), precision="ns").points == [point]
