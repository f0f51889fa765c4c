"""The vectorised fast path gives exactly what the general parser gives, or steps aside."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.lineprotocol import ArrowParseResult, parse_to_arrow, parse_to_arrow_general
from engine.lp_fast import parse_fast
from engine.lp_model import Precision


def assert_same(fast: ArrowParseResult, general: ArrowParseResult) -> None:
    assert (fast.lines, fast.errors) == (general.lines, general.errors)
    assert list(fast.tables) == list(general.tables)
    for name, table in general.tables.items():
        assert fast.tables[name].schema == table.schema, name
        assert fast.tables[name].equals(table), name


def both(data: str, unit: Precision = Precision.NANOSECOND,
         default: int = 7) -> tuple[ArrowParseResult | None, ArrowParseResult]:
    return parse_fast(data, unit, default), parse_to_arrow_general(data, unit, default)


@pytest.mark.parametrize(
    "data",
    [
        "cpu,host=a,region=r usage=1.5,count=2i 10\ncpu,host=b,region=r usage=2,count=3i 11\n",
        "cpu,host=a v=1\ncpu,host=b v=2",
        "cpu,host=a v=1 10\nmem free=1u,ok=t 11\ncpu,host=b v=2 12\nmem free=2u,ok=FALSE 13\n",
        "m,a=1 x=1 1\nm,b=2 y=2i 2\nm x=3,y=4i 3\nm,b=3,a=4 z=true 4\n",
        "m,a=x=y v=-1.5e-3 1\nm,a=é v=1E5 2",
        "time,host=a v=1 1",
        'm,t="q" s="ok",e="",x="a=b",k"=1i 1\nm,t="q" s="",e="z",x="",k"=2i 2',
    ],
    ids=["uniform", "no-timestamps", "two-measurements", "sparse-columns", "equals-and-exponent",
         "measurement-named-time", "simple-strings"],
)
def test_simple_payloads_take_the_fast_path_with_identical_results(data: str) -> None:
    fast, general = both(data)
    assert fast is not None
    assert_same(fast, general)


@pytest.mark.parametrize(
    "data",
    [
        "m,h=a\\ b v=1 1", 'm s="a b" 1', 'm s="a,b" 1', 'm s="a\nb" 1', 'm a,b="p=q" 1',
        'm s="a"b" 1', 'm s="x 1', "m v=1 1\n\nm v=2 2", "# c\nm v=1 1", "m v=1 1\r\n",
        " m v=1 1", "m\tv=1 1", "m v=1 1\nm v=2i 2", "m v=1,v=2 1", "m,h=a,h=b v=1 1",
        "m,h=a h=1 1", "m,time=a v=1 1", "m _line=1 1", "m,h= v=1 1", "m v=1 1\nm v=2",
        "m v=1 ", "m v=.5 1", "m v=1e400 1", "m v=9223372036854775808i 1", "m v=1 1.5",
        "m v=1 9223372036854775807", "m,h\x01=a v=1 1", ",h=a v=1 1", "m v=1=2 1", "",
        "m\x00 v=1 1", "m v=1 1 1",
    ],
    ids=["backslash", "space-in-string", "comma-in-string", "newline-in-string",
         "comma-in-key-before-string", "quote-in-string", "unterminated-string", "blank-line",
         "comment", "crlf", "indented", "tab",
         "type-conflict", "duplicate-field", "duplicate-tag", "tag-and-field", "time-tag",
         "line-field", "empty-tag-value", "mixed-timestamps", "trailing-space", "leading-dot",
         "float-overflow", "int-overflow", "float-time", "time-overflow-after-scaling",
         "control-char", "empty-measurement", "equals-in-value", "empty", "nul", "extra-column"],
)
def test_payloads_the_fast_path_cannot_vouch_for_go_to_the_general_parser(data: str) -> None:
    assert parse_fast(data, Precision.SECOND, 7) is None
    assert_same(parse_to_arrow(data, precision="s", default_time=7),
                parse_to_arrow_general(data, Precision.SECOND, 7))


@pytest.mark.parametrize(
    ("unit", "written"),
    [(Precision.AUTO, 1_700_000_000), (Precision.AUTO, 1_700_000_000_123),
     (Precision.AUTO, 1_700_000_000_123_456), (Precision.AUTO, -1_700_000_000_123_456_789),
     (Precision.MILLISECOND, 5), (Precision.MICROSECOND, -5)],
    ids=["auto-s", "auto-ms", "auto-us", "auto-ns-negative", "ms", "us"],
)
def test_fast_path_scales_timestamps_like_the_general_parser(unit: Precision,
                                                             written: int) -> None:
    fast, general = both(f"m v=1 {written}\nm v=2 {written + 1}", unit)
    assert fast is not None
    assert_same(fast, general)


_KEYS = st.sampled_from(["host", "region", "dc", "a", "é", "x-y", "_z"])
_FIELD_TEXT = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda n: f"{n}i"),
    st.integers(0, 2**64 - 1).map(lambda n: f"{n}u"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["t", "F", "true", "FALSE", "True"]),
    st.text(st.sampled_from(list('ab=é, "')), max_size=4).map(lambda t: f'"{t}"'),
)


@st.composite
def simple_payloads(draw: st.DrawFn) -> str:
    """Payloads without backslashes or quotes: sparse keys, some conflicts, optional time."""
    with_time = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        measurement = draw(st.sampled_from(["cpu", "mem", "disk"]))
        tags = draw(st.lists(st.tuples(_KEYS, st.sampled_from(["a", "b", "c=d", "ü", 'q"'])),
                             max_size=3, unique_by=lambda t: t[0]))
        fields = draw(st.lists(st.tuples(st.sampled_from(["v", "w", "n", "s"]), _FIELD_TEXT),
                               min_size=1, max_size=3, unique_by=lambda t: t[0]))
        line = measurement + "".join(f",{k}={v}" for k, v in tags) + " "
        line += ",".join(f"{k}={v}" for k, v in fields)
        if with_time:
            line += f" {draw(st.integers(-(2**62), 2**62))}"
        lines.append(line)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(simple_payloads(), st.sampled_from(list(Precision)))
def test_fast_and_general_paths_give_identical_arrow_output(data: str, unit: Precision) -> None:
    fast, general = both(data, unit, 1_700_000_000_123_456_789)
    if fast is not None:
        assert_same(fast, general)
    assert_same(parse_to_arrow(data, precision=unit.value, default_time=1_700_000_000_123_456_789),
                general)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(-1e6, 1e6), st.integers(0, 99)),
                min_size=1, max_size=30))
def test_clean_uniform_payloads_are_never_refused(rows: list[tuple[str, float, int]]) -> None:
    data = "".join(f"cpu,host={h} v={v!r},n={n}i {i}\n" for i, (h, v, n) in enumerate(rows))
    fast, general = both(data)
    assert fast is not None
    assert_same(fast, general)
