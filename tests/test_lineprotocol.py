"""Line-protocol parsing: InfluxDB 3's rules, errors per line, Arrow output, and conformance."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from line_protocol_parser import LineFormatError, parse_line

from engine.errors import InvalidPrecision
from engine.lineprotocol import FieldType, LineError, Point, parse, parse_to_arrow

F, N, U, B, S = (FieldType.FLOAT64, FieldType.INT64, FieldType.UINT64, FieldType.BOOL,
                 FieldType.STRING)
EXCEPTIONS_PATH = REPO_ROOT / "tests" / "lp_corpus_exceptions.json"
CORPUS_PRECISIONS = {"1ns": "ns", "1µs": "us", "1ms": "ms", "1s": "s"}


def one(text: str | bytes, **kwargs: Any) -> Point:
    result = parse(text, precision="ns", **kwargs)
    assert result.errors == []
    assert len(result.points) == 1
    return result.points[0]


def error_of(text: str | bytes) -> LineError:
    result = parse(text, precision="ns")
    assert result.points == []
    assert len(result.errors) == 1
    return result.errors[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu,host=a,region=w usage=1.5,n=2i 17", Point("cpu", (("host", "a"), ("region", "w")),
                                                       (("usage", F, 1.5), ("n", N, 2)), 17)),
        ("cpu,z=1,a=2 v=1 1", Point("cpu", (("z", "1"), ("a", "2")), (("v", F, 1.0),), 1)),
        ("c\\ p\\,u v=1 1", Point("c p,u", (), (("v", F, 1.0),), 1)),
        ("c=pu v=1 1", Point("c=pu", (), (("v", F, 1.0),), 1)),
        ("m,k\\ \\,\\==v\\ \\,\\= v=1 1", Point("m", (("k ,=", "v ,="),), (("v", F, 1.0),), 1)),
        ("m,p=C:\\dir v=1 1", Point("m", (("p", "C:\\dir"),), (("v", F, 1.0),), 1)),
        ("m,p=a\\\\b v=1 1", Point("m", (("p", "a\\b"),), (("v", F, 1.0),), 1)),
        ("m,t=a=b v=1 1", Point("m", (("t", "a=b"),), (("v", F, 1.0),), 1)),
        ("m f\\ k\\=x=1 1", Point("m", (), (("f k=x", F, 1.0),), 1)),
        ('m s="a\\"b\\\\c\\d" 1', Point("m", (), (("s", S, 'a"b\\c\\d'),), 1)),
        ('m s="" 1', Point("m", (), (("s", S, ""),), 1)),
        ('m s="a,b=c d" 1', Point("m", (), (("s", S, "a,b=c d"),), 1)),
        ('m s="two\nlines" 1', Point("m", (), (("s", S, "two\nlines"),), 1)),
        ("m a=-42i,b=18446744073709551615u,c=-1.234456e+78,d=1e3,e=1.5E-3 1",
         Point("m", (), (("a", N, -42), ("b", U, 18446744073709551615), ("c", F, -1.234456e78),
                         ("d", F, 1000.0), ("e", F, 0.0015)), 1)),
        ("m a=9223372036854775807i,b=-9223372036854775808i,c=0u 1",
         Point("m", (), (("a", N, 2**63 - 1), ("b", N, -(2**63)), ("c", U, 0)), 1)),
        ("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1",
         Point("m", (), tuple((k, B, k < "f") for k in "abcdefghij"), 1)),
        ("m v=1 -17", Point("m", (), (("v", F, 1.0),), -17)),
        ("m v=1   17   ", Point("m", (), (("v", F, 1.0),), 17)),
        ("m,h=a   v=1", Point("m", (("h", "a"),), (("v", F, 1.0),), None)),
        ("  \t m v=1 1", Point("m", (), (("v", F, 1.0),), 1)),
        ("_m,_t=x _f=1 1", Point("_m", (("_t", "x"),), (("_f", F, 1.0),), 1)),
        ("mé,ключ=值 😀=1 1", Point("mé", (("ключ", "值"),), (("😀", F, 1.0),), 1)),
        ("m,a,b=c v=1 1", Point("m", (("a,b", "c"),), (("v", F, 1.0),), 1)),
        (b"cpu v=1i 1", Point("cpu", (), (("v", N, 1),), 1)),
    ],
    ids=["basic", "tag-order-kept", "measurement-escapes", "equals-in-measurement",
         "key-value-escapes", "unknown-escape-kept", "double-backslash", "equals-in-tag-value",
         "field-key-escapes", "string-escapes", "empty-string", "separators-in-string",
         "newline-in-string", "numbers", "int-limits", "booleans", "negative-time",
         "spaces-after-time", "several-spaces", "indented", "underscore-names", "unicode",
         "comma-in-tag-key", "bytes"],
)
def test_valid_lines_parse_into_points(text: str | bytes, expected: Point) -> None:
    assert one(text) == expected


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("m,h= v=1", 5, "tag values may not be empty"),
        ("m,h=a, v=1", 7, "expected a tag key"),
        ("m,h=a v=1,", 11, "expected a field key"),
        ("m v= 1", 5, "invalid value for field 'v'"),
        ('m s="abc 1', 5, "unterminated string"),
        ("m\tv=1", 2, "found a tab"),
        ("m,h=a", 6, "found the end of the line"),
        ("m v=.5", 5, "'.5'"),
        ("m v=1.", 5, "'1.'"),
        ("m v=+1.5", 5, "'+1.5'"),
        ("m v=NaN", 5, "'NaN'"),
        ("m v=inf", 5, "'inf'"),
        ("m v=tRUE", 5, "'tRUE'"),
        ("m v=-1u", 5, "'-1u'"),
        ("m v=1e400", 5, "out of range"),
        ("m v=9223372036854775808i", 5, "out of the int64 range"),
        ("m v=18446744073709551616u", 5, "out of the uint64 range"),
        ("m v=1 1.5", 7, "invalid timestamp '1.5'"),
        ("m v=1 9223372036854775808", 7, "out of the int64 range"),
        ("m v=1 ", 6, "trailing whitespace"),
        ("m v=1 1\r", 8, "carriage return"),
        ("m v=1\r", 6, "carriage return"),
        ("m,h=a,h=b v=1", 7, "duplicate tag key 'h'"),
        ("m v=1,v=2", 7, "multiple instances of field 'v'"),
        ("m,time=a v=1", 3, "'time' is a reserved column name"),
        ("m time=1", 3, "'time' is a reserved column name"),
        ("m __chunk_order=1", 3, "reserved"),
        ("m,h=a h=1", 7, "both a tag key and a field key"),
        ("m\\ v=1", 7, "expected a space"),
        ("m,h=a\\\\ v=1", 5, "may not end with a backslash"),
        ("m,a\\\\=b v=1", 3, "may not end with a backslash"),
        ("m,k\x01=v v=1", 3, "control character"),
        ("m k\x7f=1", 3, "control character"),
        ("m\x02 v=1", 1, "control character"),
        (",h=a v=1", 1, "expected a measurement name"),
        ("m v=1x", 5, "invalid value for field 'v': '1x'"),
        ("m v=1 2 3", 9, "unexpected text after the timestamp"),
    ],
    ids=["empty-tag-value", "trailing-comma-tags", "trailing-comma-fields", "field-no-value",
         "unterminated-string", "tab-separator", "no-field-set", "leading-dot", "trailing-dot",
         "plus-sign", "nan", "inf", "bad-bool", "negative-uint", "float-overflow",
         "int-overflow", "uint-overflow", "float-time", "time-overflow", "trailing-space",
         "crlf-after-time", "crlf-after-fields", "duplicate-tag", "duplicate-field",
         "time-tag", "time-field", "chunk-order", "tag-and-field", "escaped-space-eats-sep",
         "tag-value-ends-backslash", "tag-key-ends-backslash", "control-in-tag-key",
         "del-in-field-key", "control-in-measurement", "empty-measurement", "junk-after-value",
         "two-timestamps"],
)
def test_bad_lines_report_column_and_problem(text: str, column: int, fragment: str) -> None:
    error = error_of(text)
    assert (error.line_number, error.column) == (1, column)
    assert fragment in error.message
    assert error.original_line == text


def test_string_values_and_names_are_limited_to_64_kib() -> None:
    assert one(f'm s="{"x" * 65536}"').fields[0][2] == "x" * 65536
    assert "longer than 64 KiB" in error_of(f'm s="{"x" * 65537}"').message
    assert "longer than 64 KiB" in error_of(f'm s="{"é" * 32769}"').message
    assert "longer than 64 KiB" in error_of(f'm,{"k" * 65537}=v f=1').message


def test_bad_lines_do_not_affect_good_lines() -> None:
    data = ("# a comment\n\ncpu v=1 1\ncpu v= 2\n   \ncpu,h=x s=\"multi\nline\" 3\n"
            "bad\ncpu v=4 4\n")
    result = parse(data, precision="ns")
    assert [p.time for p in result.points] == [1, 3, 4]
    assert [(e.line_number, e.original_line) for e in result.errors] == [
        (4, "cpu v= 2"), (8, "bad")]


def test_a_line_that_is_not_utf8_is_an_error_on_that_line_only() -> None:
    result = parse(b"m v=1 1\nm\xff v=1 2\nm v=3 3", precision="ns")
    assert [p.time for p in result.points] == [1, 3]
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.line_number, error.column, error.message) == (2, 2, "the line is not valid UTF-8")
    assert error.original_line == "m\ufffd v=1 2"


@pytest.mark.parametrize(
    ("precision", "written", "expected"),
    [
        ("ns", 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        ("us", 1_700_000_000_123_456, 1_700_000_000_123_456_000),
        ("ms", 1_700_000_000_123, 1_700_000_000_123_000_000),
        ("s", 1_700_000_000, 1_700_000_000_000_000_000),
        ("nanosecond", 5, 5),
        ("microsecond", 5, 5_000),
        ("millisecond", 5, 5_000_000),
        ("second", 5, 5_000_000_000),
        ("n", 5, 5),
        ("u", 5, 5_000),
        ("auto", 1_700_000_000, 1_700_000_000_000_000_000),
        ("auto", 1_700_000_000_123, 1_700_000_000_123_000_000),
        ("auto", 1_700_000_000_123_456, 1_700_000_000_123_456_000),
        ("auto", 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        ("auto", -1_700_000_000, -1_700_000_000_000_000_000),
        ("auto", 0, 0),
    ],
    ids=["ns", "us", "ms", "s", "long-ns", "long-us", "long-ms", "long-s", "n", "u",
         "auto-s", "auto-ms", "auto-us", "auto-ns", "auto-negative", "auto-zero"],
)
def test_timestamps_are_scaled_to_nanoseconds(precision: str, written: int, expected: int) -> None:
    result = parse(f"m v=1 {written}", precision=precision)
    assert result.errors == []
    assert result.points[0].time == expected


def test_a_timestamp_that_overflows_after_scaling_is_an_error() -> None:
    result = parse("m v=1 9223372036854775807", precision="s")
    assert result.points == []
    assert result.errors[0].column == 7
    assert "out of range for precision s" in result.errors[0].message


@pytest.mark.parametrize(
    ("precision", "expected"),
    [("ns", 1_234_567_891), ("us", 1_234_567_000), ("ms", 1_234_000_000), ("s", 1_000_000_000),
     ("auto", 1_234_567_891)],
    ids=["ns", "us", "ms", "s", "auto"],
)
def test_default_time_is_truncated_to_the_precision(precision: str, expected: int) -> None:
    assert parse("m v=1", precision=precision, default_time=1_234_567_891).points[0].time \
        == expected


def test_lines_without_time_keep_none_without_a_default() -> None:
    assert one("m v=1").time is None


@pytest.mark.parametrize("precision", ["", "minute", "h", "1s", None], ids=str)
def test_unknown_precision_raises_naming_the_accepted_values(precision: Any) -> None:
    with pytest.raises(InvalidPrecision, match="accepted values: auto, ns") as caught:
        parse("m v=1", precision=precision)
    assert isinstance(caught.value, ValueError)


# --- parse_to_arrow ------------------------------------------------------------------------


def test_parse_to_arrow_builds_one_typed_table_per_measurement() -> None:
    data = ("cpu,host=a v=1,n=2i,u=3u,b=t,s=\"x\" 10\nmem free=1i 11\n"
            "cpu,host=b,dc=x v=2 12\ncpu n=5i\n")
    result = parse_to_arrow(data, precision="ns", default_time=99)
    assert (result.errors, result.lines, list(result.tables)) == ([], 4, ["cpu", "mem"])
    cpu = result.tables["cpu"]
    assert cpu.schema == pa.schema([
        ("host", pa.string()), ("v", pa.float64()), ("n", pa.int64()), ("u", pa.uint64()),
        ("b", pa.bool_()), ("s", pa.string()), ("dc", pa.string()), ("time", pa.int64()),
        ("_line", pa.int32())])
    assert cpu.to_pylist() == [
        {"host": "a", "v": 1.0, "n": 2, "u": 3, "b": True, "s": "x", "dc": None, "time": 10,
         "_line": 1},
        {"host": "b", "v": 2.0, "n": None, "u": None, "b": None, "s": None, "dc": "x",
         "time": 12, "_line": 3},
        {"host": None, "v": None, "n": 5, "u": None, "b": None, "s": None, "dc": None,
         "time": 99, "_line": 4},
    ]
    assert result.tables["mem"].to_pylist() == [{"free": 1, "time": 11, "_line": 2}]


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        ("m v=1 1\nm v=2i 2", 2, "field 'v' is int64 here but float64 in an earlier line"),
        ("m,h=a v=1 1\nm h=2 2", 2, "'h' is a tag in an earlier line"),
        ("m h=2 1\nm,h=a v=1 2", 2, "'h' is a float64 field in an earlier line"),
        ("m v=1 1\nm _line=1 2", 2, "'_line' is reserved"),
        ("m v=1 1\nm,_line=a v=1 2", 2, "'_line' is reserved"),
    ],
    ids=["field-type-conflict", "tag-then-field", "field-then-tag", "line-field", "line-tag"],
)
def test_parse_to_arrow_rejects_lines_that_break_the_write_schema(
    data: str, line: int, fragment: str
) -> None:
    result = parse_to_arrow(data, precision="ns", default_time=0)
    assert [e.line_number for e in result.errors] == [line]
    assert fragment in result.errors[0].message
    assert result.tables["m"].num_rows == 1
    assert result.lines == len(data.splitlines())


def test_parse_to_arrow_keeps_the_same_measurement_and_field_in_other_tables_apart() -> None:
    result = parse_to_arrow("a v=1i 1\nb v=1 2\n", precision="ns", default_time=0)
    assert result.errors == []
    assert result.tables["a"].schema.field("v").type == pa.int64()
    assert result.tables["b"].schema.field("v").type == pa.float64()


def test_parse_to_arrow_reports_parse_errors_and_counts_lines() -> None:
    result = parse_to_arrow("# c\n\nm v=1 1\nm v=\n", precision="ns", default_time=0)
    assert (result.lines, [e.line_number for e in result.errors]) == (2, [4])
    assert result.tables["m"]["_line"].to_pylist() == [3]


# --- conformance corpus --------------------------------------------------------------------


def _corpus_text(value: str | dict[str, str]) -> str | bytes:
    return base64.b64decode(value["binary"]) if isinstance(value, dict) else value


def _corpus_value(value: dict[str, Any]) -> tuple[FieldType, Any]:
    (kind, raw), = value.items()
    kinds = {"int": N, "uint": U, "float": F, "bool": B, "string": S}
    if kind == "binary":
        return S, base64.b64decode(raw).decode()
    return kinds[kind], float(raw) if kind == "float" else raw


def _corpus_point(raw: dict[str, Any]) -> Point:
    # The Go reference sorts tags by key; InfluxDB 3 keeps line order, so compare them sorted.
    tags = tuple(sorted((t["key"], t["value"]) for t in raw["tags"]))
    fields = tuple((f["key"], *_corpus_value(f["value"])) for f in raw["fields"])
    return Point(raw["name"], tags, fields, raw["time"])


def _decode_case_passes(case: dict[str, Any]) -> bool:
    given_ = case["input"]
    result = parse(_corpus_text(given_["text"]), precision=CORPUS_PRECISIONS[given_["precision"]],
                   default_time=given_.get("defaultTime"))
    if "error" in case["output"]:
        return bool(result.errors)
    ours = [Point(p.measurement, tuple(sorted(p.tags)), p.fields, p.time) for p in result.points]
    return not result.errors and ours == [_corpus_point(p) for p in case["output"]["result"]]


def _encode_case_passes(case: dict[str, Any]) -> bool:
    from engine.errors import UnrepresentablePoint
    from engine.lineprotocol import format_point

    raw = case["input"]["point"]
    point = Point(raw["name"], tuple((t["key"], t["value"]) for t in raw["tags"]),
                  tuple((f["key"], *_corpus_value(f["value"])) for f in raw["fields"]),
                  raw["time"])
    try:
        text = format_point(point)
    except UnrepresentablePoint:
        return "error" in case["output"]
    return case["output"].get("result") == text


def _conformance(cases: dict[str, Any], passes: Callable[[dict[str, Any]], bool],
                 listed: set[str]) -> tuple[float, set[str], set[str]]:
    failed = {key for key, case in cases.items() if not passes(case)}
    return 1 - len(failed) / len(cases), failed - listed, listed - failed


@pytest.mark.parametrize(
    ("kind", "passes", "bar"),
    [("decode", _decode_case_passes, 0.99), ("encode", _encode_case_passes, 0.95)],
    ids=["decode", "encode"],
)
def test_conformance_corpus(lp_corpus_path: Path, record_property: Callable[[str, object], None],
                            kind: str, passes: Callable[[dict[str, Any]], bool],
                            bar: float) -> None:
    """Every corpus case runs; only the cases listed (with a reason) in the exceptions file fail.

    The encode bar is 95%: 5 of the 101 encode cases expect Go's text for a backslash before a
    delimiter, which InfluxDB 3 cannot read back (see the exceptions file).
    """
    cases = json.loads(lp_corpus_path.read_text(encoding="utf-8"))[kind]
    listed = json.loads(EXCEPTIONS_PATH.read_text(encoding="utf-8"))[kind]
    assert all(entry["reason"] for entry in listed.values())
    rate, unexpected, now_passing = _conformance(cases, passes, set(listed))
    report = f"line-protocol corpus {kind}: {rate:.2%} of {len(cases)} cases pass\n"
    sys.stdout.write(report)
    record_property(f"lp_corpus_{kind}_pass_rate", round(rate, 4))
    assert unexpected == set(), f"cases failing without a listed reason: {sorted(unexpected)}"
    assert now_passing == set(), f"listed cases that now pass: {sorted(now_passing)}"
    assert rate >= bar, report


# --- differential testing against line-protocol-parser -----------------------------------

_NAME_CHARS = st.sampled_from(list("abcxyzAZ09_-.:/é😀ß ,=\"'#"))
_NAMES = st.text(_NAME_CHARS, min_size=1, max_size=8).filter(lambda s: s not in ("time",))
# line-protocol-parser rejects subnormal floats (strtod reports ERANGE), so leave them out.
_FLOATS = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
# line-protocol-parser splits lines itself on \n and rejects NUL, so strings leave those out.
_STRINGS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=12
)


def _escape(text: str, specials: str) -> str:
    return "".join("\\" + char if char in specials else char for char in text)


def _float_text(value: float, style: int) -> str:
    if style == 0 or not value.is_integer() or abs(value) >= 1e15:
        return repr(value)
    return str(int(value)) if style == 1 else f"{value:.3e}"


# line-protocol-parser rejects timestamps within 1 of the int64 limits, so they stop short.
_TIMES = st.integers(-(2**63) + 2, 2**63 - 2)
_FIELD_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda n: (N, n, f"{n}i")),
    st.integers(0, 2**64 - 1).map(lambda n: (U, n, f"{n}u")),
    st.tuples(_FLOATS, st.integers(0, 2)).map(lambda v: (F, float(_float_text(*v)),
                                                         _float_text(*v))),
    st.sampled_from(["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"])
    .map(lambda w: (B, w in ("t", "T", "true", "True", "TRUE"), w)),
    _STRINGS.map(lambda s: (S, s, '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')),
)


@st.composite
def agreed_lines(draw: st.DrawFn) -> tuple[str, Point]:
    """A line in the subset where InfluxDB 3 and line-protocol-parser must agree."""
    measurement = draw(_NAMES.filter(lambda s: not s.startswith("#")))
    keys = draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
    split = draw(st.integers(0, len(keys) - 1))
    tags = tuple((k, draw(_NAMES)) for k in keys[:split])
    fields = tuple((k, *draw(_FIELD_VALUES)) for k in keys[split:])
    time = draw(st.none() | _TIMES)
    spaces = [" " * draw(st.integers(1, 3)) for _ in range(2)]
    text = _escape(measurement, ", ") + "".join(
        f",{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in tags)
    text += spaces[0] + ",".join(f"{_escape(k, ',= ')}={raw}" for k, _, _, raw in fields)
    text += "" if time is None else f"{spaces[1]}{time}"
    point = Point(measurement, tags, tuple(f[:3] for f in fields), time)
    return text, point


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agreed_lines())
def test_parser_agrees_with_line_protocol_parser(case: tuple[str, Point]) -> None:
    text, expected = case
    ours = one(text)
    assert ours == expected
    try:
        theirs = parse_line(text)
    except LineFormatError as error:  # pragma: no cover - a disagreement, reported below
        pytest.fail(f"line-protocol-parser rejects {text!r}: {error}")
    assert theirs["measurement"] == ours.measurement
    assert theirs["tags"] == dict(ours.tags)
    assert theirs["fields"] == {name: value for name, _, value in ours.fields}
    assert theirs["time"] == ours.time


@pytest.mark.parametrize(
    "text",
    ["m,h=a v=1,", "m v=", 'm s="abc', "m\tv=1", "m", "m v=1 1.5", "m v=tRUE", "m v=-1u",
     "m,h= v=1", "m v=1 9223372036854775808"],
    ids=["trailing-comma", "no-value", "unterminated", "tab", "no-fields", "float-time",
         "bad-bool", "negative-uint", "empty-tag-value", "time-overflow"],
)
def test_both_parsers_reject_what_both_call_invalid(text: str) -> None:
    assert len(parse(text).errors) == 1
    with pytest.raises(LineFormatError):
        parse_line(text)
