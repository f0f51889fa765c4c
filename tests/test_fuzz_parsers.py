"""Fuzzing the parsers: nothing but the documented errors escapes.

The line-protocol parser (`parse`, `parse_to_arrow`, and `Engine.write_lp` over it) reports bad
lines only as `LineError` results (a write with no good line raises `WriteError` carrying them);
the trigger-spec parser raises only `TriggerSpecError`. Inputs: arbitrary text and bytes,
mutations of well-formed lines, and every error case of the conformance corpus.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.engine import Engine
from engine.errors import InvalidPrecision, TriggerSpecError, WriteError
from engine.lineprotocol import LineError, parse, parse_to_arrow
from engine.spec import TriggerSpec

EXCEPTIONS = json.loads((REPO_ROOT / "tests" / "lp_corpus_exceptions.json").read_text())
PRECISIONS = ["auto", "ns", "us", "ms", "s", "nanosecond", "microsecond", "millisecond", "second"]
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- line protocol ----------------------------------------------------------------------------

_SPECIAL = [*' ,="\\\n\r\t#\x00\x7fé😀', "\\ ", "\\,", "\\=", '\\"', "i", "u", "e", "."]
_WELL_FORMED = [
    "cpu,host=a,region=west usage=1.5,count=3i,ok=true,name=\"x y\" 1700000000000000000",
    "m v=1",
    "weather\\ station,loc=a\\,b temp=-3.5e2,hum=40u 1700000000",
    'log msg="a \\"quoted\\" \\\\ text",level="warn"',
    "# a comment",
    "disk,dev=sda free=10i,used=2i,flag=F 1",
]


@st.composite
def mutated_lines(draw: st.DrawFn) -> str:
    """A few well-formed lines with characters inserted, deleted or replaced."""
    lines = draw(st.lists(st.sampled_from(_WELL_FORMED), min_size=1, max_size=4))
    text = "\n".join(lines)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(_SPECIAL) | st.text(max_size=3))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 4)):]
        else:
            text = text[:at] + piece + text[at + 1:]
    return text


PAYLOADS = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    mutated_lines(),
    mutated_lines().map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def _physical_lines(data: str | bytes) -> int:
    return (data.count(b"\n" if isinstance(data, bytes) else "\n")) + 1


def _check_errors(errors: list[LineError], data: str | bytes) -> None:
    for error in errors:
        assert isinstance(error, LineError)
        assert 1 <= error.line_number <= _physical_lines(data), error
        assert error.column >= 1, error
        assert isinstance(error.message, str) and error.message, error
        assert isinstance(error.original_line, str), error


@FUZZ
@given(data=PAYLOADS, precision=st.sampled_from(PRECISIONS))
def test_parse_reports_bad_lines_as_line_errors_only(data: str | bytes, precision: str) -> None:
    result = parse(data, precision=precision, default_time=0)
    _check_errors(result.errors, data)
    assert all(point.time is not None for point in result.points)


@FUZZ
@given(data=PAYLOADS, precision=st.sampled_from(PRECISIONS))
def test_parse_to_arrow_accounts_for_every_line(data: str | bytes, precision: str) -> None:
    result = parse_to_arrow(data, precision=precision, default_time=1_700_000_000_000_000_000)
    _check_errors(result.errors, data)
    rows = sum(table.num_rows for table in result.tables.values())
    assert rows + len(result.errors) == result.lines
    # The Arrow path (fast or general) refuses every line the point parser refuses, and may
    # refuse more: conflicts between lines of one write.
    refused = {error.line_number for error in parse(data, precision=precision).errors}
    assert refused <= {error.line_number for error in result.errors}
    for table in result.tables.values():
        assert table.column("time").null_count == 0
        assert table.column("_line").null_count == 0


@FUZZ
@given(precision=st.text(max_size=12))
def test_an_unknown_precision_is_invalid_precision(precision: str) -> None:
    assume(precision not in PRECISIONS)
    try:
        parse("m v=1 1", precision=precision)
    except InvalidPrecision as exc:
        assert str(exc)
    else:
        parse_to_arrow("m v=1 1", precision=precision, default_time=0)  # an accepted alias


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine(background=False) as running:
        running.create_database("fuzz")
        yield running


@FUZZ
@given(data=PAYLOADS, accept_partial=st.booleans())
def test_write_lp_refuses_bad_lines_with_write_error_only(engine: Engine, data: str | bytes,
                                                          accept_partial: bool) -> None:
    try:
        result = engine.write_lp("fuzz", data, accept_partial=accept_partial)
    except WriteError as exc:
        _check_errors(exc.errors, data)
        assert str(exc)
        return
    _check_errors(result.errors, data)
    assert result.lines_written >= 1
    assert accept_partial or not result.errors


# -- the conformance corpus's error cases -----------------------------------------------------


def _corpus_error_cases(path: Path) -> list[tuple[str, dict[str, Any]]]:
    cases = json.loads(path.read_text(encoding="utf-8"))["decode"]
    return [(key, case["input"]) for key, case in sorted(cases.items())
            if "error" in case["output"] and key not in EXCEPTIONS["decode"]]


def _corpus_text(value: str | dict[str, str]) -> str | bytes:
    return base64.b64decode(value["binary"]) if isinstance(value, dict) else value


def test_every_corpus_error_case_is_a_line_error_and_a_refused_write(
        lp_corpus_path: Path, engine: Engine) -> None:
    cases = _corpus_error_cases(lp_corpus_path)
    assert len(cases) > 100
    for key, given_ in cases:
        data = _corpus_text(given_["text"])
        result = parse(data, precision="ns", default_time=given_.get("defaultTime"))
        assert result.errors, key
        _check_errors(result.errors, data)
        arrow = parse_to_arrow(data, precision="ns", default_time=0)
        assert arrow.errors, key
        with pytest.raises(WriteError) as refused:
            engine.write_lp("fuzz", data, precision="ns", accept_partial=False)
        assert refused.value.errors, key
        _check_errors(refused.value.errors, data)


# -- trigger specifications -------------------------------------------------------------------

_CRON_FIELD = st.one_of(
    st.sampled_from(["*", "?", "L", "W", "#", "/", "-", ",", "0", "59", "60", "7", "SUN",
                     "MON-FRI", "*/0", "*/5", "1-0", "31", "32", "1970", "2100", "JAN", "L-3"]),
    st.text(st.sampled_from("0123456789*/-,?LW#"), max_size=6),
)
_DURATION = st.one_of(
    st.from_regex(r"\A-?[0-9]{0,6}(\.[0-9]{0,3})?(ns|us|ms|s|m|h|d|w|M|y|mo|x)?\Z"),
    st.text(st.sampled_from("0123456789smhdwMy. +-e"), max_size=10),
)


@st.composite
def spec_texts(draw: st.DrawFn) -> str:
    """Near-valid trigger specifications of every kind, plus arbitrary text."""
    kind = draw(st.sampled_from(["table", "all_tables", "cron", "every", "request", "other"]))
    if kind == "cron":
        fields = draw(st.lists(_CRON_FIELD, min_size=0, max_size=8))
        return "cron:" + " ".join(fields)
    if kind == "every":
        return "every:" + draw(_DURATION)
    if kind in ("table", "request"):
        return f"{kind}:" + draw(st.text(max_size=20))
    if kind == "all_tables":
        return draw(st.sampled_from(["all_tables", "ALL_TABLES", "all_tables:", " all_tables "]))
    return draw(st.text(max_size=40))


@FUZZ
@given(text=spec_texts())
def test_trigger_spec_parse_raises_trigger_spec_error_only(text: str) -> None:
    try:
        spec = TriggerSpec.parse(text)
    except TriggerSpecError as exc:
        assert isinstance(exc, ValueError) and str(exc)
        return
    assert TriggerSpec.parse(str(spec)) == spec
    if spec.is_schedule:
        after = spec.next_after(datetime(2026, 1, 1, tzinfo=UTC))
        assert after is None or after > datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, 5, b"every:1s", ["all_tables"], {"kind": "cron"}],
                         ids=["none", "int", "bytes", "list", "dict"])
def test_trigger_spec_parse_refuses_non_text(value: Any) -> None:
    with pytest.raises(TriggerSpecError):
        TriggerSpec.parse(value)
