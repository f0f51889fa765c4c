"""Formatting points as line protocol that InfluxDB 3 reads back unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UnrepresentablePoint
from engine.lineprotocol import FieldType, Point, format_point, parse
from engine.lp_format import format_float
from engine.lp_model import RESERVED_NAMES

F, N, U, B, S = (FieldType.FLOAT64, FieldType.INT64, FieldType.UINT64, FieldType.BOOL,
                 FieldType.STRING)


@pytest.mark.parametrize(
    ("point", "text"),
    [
        (Point("cpu", (("host", "a"),), (("v", F, 1.5), ("n", N, -2)), 17),
         "cpu,host=a v=1.5,n=-2i 17"),
        (Point("m", (), (("u", U, 2**64 - 1), ("b", B, False), ("t", B, True)), None),
         "m u=18446744073709551615u,b=false,t=true"),
        (Point("c p,u=x", (("k ,=", "v ,="),), (("f ,=", F, 1.0),), 0),
         "c\\ p\\,u=x,k\\ \\,\\==v\\ \\,\\= f\\ \\,\\==1 0"),
        (Point("m", (("p", "C:\\dir"),), (("v", F, 1.0),), 1), "m,p=C:\\dir v=1 1"),
        (Point("m", (("p", "a\\,b"),), (("v", F, 1.0),), 1), "m,p=a\\\\\\,b v=1 1"),
        (Point("m\\ x", (), (("v", F, 1.0),), 1), "m\\\\\\ x v=1 1"),
        (Point("m", (), (("s", S, 'say "hi" \\ bye\nnext'),), 1),
         'm s="say \\"hi\\" \\\\ bye\nnext" 1'),
        (Point("m", (), (("e", S, ""),), None), 'm e=""'),
    ],
    ids=["basic", "uint-bool-no-time", "escapes", "lone-backslash-kept",
         "backslash-before-comma", "backslash-before-space", "string-escapes", "empty-string"],
)
def test_points_format_with_influxdb3_escaping(point: Point, text: str) -> None:
    assert format_point(point) == text
    assert parse(text, precision="ns").points == [point]


@pytest.mark.parametrize(
    ("value", "text"),
    [(42.0, "42"), (6632243.0, "6.632243e+06"), (123456.0, "123456"), (-0.64, "-0.64"),
     (1e21, "1e+21"), (0.0001, "0.0001"), (1e-05, "1e-05"), (5e-324, "5e-324"),
     (1.7976931348623157e308, "1.7976931348623157e+308"), (-0.0, "-0"), (0.0, "0")],
    ids=["int-like", "exponent", "six-digits", "negative", "large", "small", "tiny",
         "subnormal", "max", "negative-zero", "zero"],
)
def test_floats_use_the_shortest_exact_text_in_go_layout(value: float, text: str) -> None:
    assert format_float(value) == text
    assert float(text) == value


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        (Point("", (), (("v", F, 1.0),)), "measurement is empty"),
        (Point("#m", (), (("v", F, 1.0),)), "starts with '#'"),
        (Point("m", (("h", ""),), (("v", F, 1.0),)), "value of tag 'h' is empty"),
        (Point("m", (("h\\", "a"),), (("v", F, 1.0),)), "ends with a backslash"),
        (Point("m", (("h", "a\tb"),), (("v", F, 1.0),)), "tab or newline"),
        (Point("m\x01", (), (("v", F, 1.0),)), "control character"),
        (Point("m", (("k\x7f", "a"),), (("v", F, 1.0),)), "control character"),
        (Point("m", (), (("f\x00", F, 1.0),)), "control character"),
        (Point("m", (), ()), "at least one field"),
        (Point("m", (("time", "a"),), (("v", F, 1.0),)), "reserved"),
        (Point("m", (("v", "a"),), (("v", F, 1.0),)), "more than once"),
        (Point("m", (), (("v", F, float("inf")),)), "no NaN or infinity"),
        (Point("m", (), (("v", F, float("nan")),)), "no NaN or infinity"),
        (Point("m", (), (("v", N, 2**63),)), "int64 but holds"),
        (Point("m", (), (("v", U, -1),)), "uint64 but holds"),
        (Point("m", (), (("v", B, 1),)), "bool but holds"),
        (Point("m", (), (("v", S, 1),)), "string but holds"),
        (Point("m", (), (("v", S, "x" * 65537),)), "longer than 64 KiB"),
        (Point("m", (), (("v", F, 1.0),), 2**63), "int64 range"),
    ],
    ids=["empty-measurement", "comment-measurement", "empty-tag-value", "key-ends-backslash",
         "tab-in-value", "control-in-measurement", "control-in-tag-key", "nul-in-field-key",
         "no-fields", "reserved-key", "repeated-key", "inf", "nan",
         "int-range", "uint-range", "bool-type", "string-type", "string-limit", "time-range"],
)
def test_points_the_parser_would_reject_are_refused(point: Point, fragment: str) -> None:
    with pytest.raises(UnrepresentablePoint, match=fragment) as caught:
        format_point(point)
    assert isinstance(caught.value, ValueError)


_SPECIALS = st.sampled_from(list("\\,= \"'#=é😀_"))
_TEXT = st.text(st.one_of(_SPECIALS, st.characters(blacklist_categories=("Cc", "Cs"))),
                min_size=1, max_size=10)
_NAME = _TEXT.filter(lambda s: not s.endswith("\\") and s not in RESERVED_NAMES)
# Tag values may hold control characters, except the tab and newline that end a token.
_TAG_VALUE = st.text(
    st.one_of(_SPECIALS, st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n")),
    min_size=1,
    max_size=10,
).filter(lambda s: not s.endswith("\\"))
_VALUES: dict[FieldType, st.SearchStrategy[Any]] = {
    N: st.integers(-(2**63), 2**63 - 1),
    U: st.integers(0, 2**64 - 1),
    F: st.floats(allow_nan=False, allow_infinity=False),
    B: st.booleans(),
    S: st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
}


@st.composite
def points(draw: st.DrawFn) -> Point:
    """Points that obey every rule of the parser."""
    measurement = draw(_NAME.filter(lambda s: not s.startswith("#")))
    keys = draw(st.lists(_NAME, min_size=1, max_size=6, unique=True))
    split = draw(st.integers(0, len(keys) - 1))
    tags = tuple((key, draw(_TAG_VALUE)) for key in keys[:split])
    fields = []
    for key in keys[split:]:
        kind = draw(st.sampled_from(list(FieldType)))
        fields.append((key, kind, draw(_VALUES[kind])))
    time = draw(st.none() | st.integers(-(2**63), 2**63 - 1))
    return Point(measurement, tags, tuple(fields), time)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points())
def test_parse_of_format_gives_the_point_back(point: Point) -> None:
    result = parse(format_point(point), precision="ns")
    assert result.errors == []
    assert result.points == [point]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(points(), min_size=1, max_size=5))
def test_many_formatted_points_parse_back_in_order(batch: list[Point]) -> None:
    text = "\n".join(format_point(point) for point in batch)
    assert parse(text, precision="ns").points == batch
