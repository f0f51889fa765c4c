"""Durations: parsing `1h30m`-style text, the canonical form, and epoch-aligned ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.durations import (
    MAX_EVERY_SECONDS,
    SECONDS_PER_UNIT,
    format_duration,
    next_multiple_after,
    parse_duration,
)
from engine.errors import EngineError, InvalidDuration

PARSED = [
    ("30s", 30, "seconds"),
    ("5m", 300, "minutes"),
    ("1h", 3600, "hours"),
    ("1d", 86_400, "days"),
    ("1w", 604_800, "weeks"),
    ("1M", 2_630_016, "month-is-30.44-days"),
    ("1y", 31_557_600, "year-is-365.25-days"),
    ("1h30m", 5400, "compound"),
    ("30m1h", 5400, "compound-any-order"),
    ("1h 30m", 5400, "compound-with-space"),
    ("1.5h", 5400, "fractional"),
    (".5m", 30, "fraction-without-leading-zero"),
    ("0.25s", 0.25, "sub-second-fraction"),
    ("1h1h", 7200, "repeated-unit-adds-up"),
    ("  90 s ", 90, "spaces-around-number-and-unit"),
    ("2 weeks", 1_209_600, "long-unit-name"),
    ("10min", 600, "humantime-min"),
    ("3hrs", 10_800, "humantime-hrs"),
    ("1month", 2_630_016, "humantime-month"),
    ("1year", 31_557_600, "humantime-year"),
    ("0s", 0, "zero-parses"),
    ("0.1M", 263_001.6, "fraction-of-a-month-exact"),
]


@pytest.mark.parametrize(("text", "seconds"), [p[:2] for p in PARSED], ids=[p[2] for p in PARSED])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


BAD = [
    ("", "empty", "empty"),
    ("   ", "empty", "blank"),
    ("-1h", "no sign", "negative"),
    ("+1h", "no sign", "plus-sign"),
    ("10", "has no unit", "number-without-unit"),
    ("1h30", "has no unit", "trailing-number"),
    ("h", "expected a number at 'h'", "unit-without-number"),
    ("1x", "unknown unit 'x'", "unknown-unit"),
    ("500ms", "unknown unit 'ms'", "milliseconds-not-a-unit"),
    ("1H", "unknown unit 'H'", "units-are-case-sensitive"),
    ("1e3s", "unknown unit 'e'", "exponent"),
    ("1.h", "has no unit", "dot-without-digits"),
    ("1h,30m", "expected a number", "comma"),
]


@pytest.mark.parametrize(("text", "message"), [b[:2] for b in BAD], ids=[b[2] for b in BAD])
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidDuration, match=message) as caught:
        parse_duration(text)
    assert isinstance(caught.value, EngineError)
    assert isinstance(caught.value, ValueError)
    assert "units s m h d w M" in str(caught.value)


FORMATTED = [
    (90, "1m30s", "seconds-into-minutes"),
    (5400, "1h30m", "hours-and-minutes"),
    (3600, "1h", "single-unit"),
    (86_400 * 10, "1w3d", "weeks-and-days"),
    (86_400 * 31, "4w3d", "month-only-when-shorter"),
    (2_630_016, "1M", "one-month"),
    (2_630_016 + 86_400, "1M1d", "month-and-day"),
    (2_630_016 * 11, "11M", "eleven-months"),
    (31_557_600, "1y", "one-year"),
    (0, "0s", "zero"),
    (0.5, "0.5s", "fraction"),
    (60.5, "1m0.5s", "fraction-after-minutes"),
    (3661, "1h1m1s", "every-small-unit"),
]


@pytest.mark.parametrize(
    ("seconds", "text"), [f[:2] for f in FORMATTED], ids=[f[2] for f in FORMATTED]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")], ids=["neg", "nan", "inf"])
def test_format_duration_rejects_what_is_not_a_length(seconds: float) -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(seconds)


def test_unit_lengths_match_the_reference_server() -> None:
    assert SECONDS_PER_UNIT["M"] == round(30.44 * 86_400)
    assert SECONDS_PER_UNIT["y"] == round(365.25 * 86_400) == MAX_EVERY_SECONDS
    assert list(SECONDS_PER_UNIT) == ["y", "M", "w", "d", "h", "m", "s"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 10 * MAX_EVERY_SECONDS), st.floats(0, 1e12)))
def test_format_then_parse_gives_the_same_length(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from(list(SECONDS_PER_UNIT))),
                min_size=1, max_size=5))
def test_canonical_form_is_stable(spans: list[tuple[int, str]]) -> None:
    text = "".join(f"{count}{unit}" for count, unit in spans)
    seconds = parse_duration(text)
    assert seconds == sum(count * SECONDS_PER_UNIT[unit] for count, unit in spans)
    canonical = format_duration(seconds)
    assert format_duration(parse_duration(canonical)) == canonical
    assert " " not in canonical


START = datetime(2024, 5, 17, 13, 47, 21, tzinfo=UTC)
ALIGNED = [
    (1, datetime(2024, 5, 17, 13, 47, 22, tzinfo=UTC), "second"),
    (60, datetime(2024, 5, 17, 13, 48, tzinfo=UTC), "minute"),
    (900, datetime(2024, 5, 17, 14, 0, tzinfo=UTC), "quarter-hour"),
    (420, datetime(2024, 5, 17, 13, 48, tzinfo=UTC), "seven-minutes-from-epoch"),
    (3600, datetime(2024, 5, 17, 14, 0, tzinfo=UTC), "hour"),
    (86_400, datetime(2024, 5, 18, tzinfo=UTC), "day-at-utc-midnight"),
    (604_800, datetime(2024, 5, 23, tzinfo=UTC), "week-on-thursday-like-the-epoch"),
    (2_630_016, datetime(2024, 6, 3, 7, 40, 48, tzinfo=UTC), "month-653-months-since-epoch"),
    (31_557_600, datetime(2024, 12, 31, 18, tzinfo=UTC), "year-55-years-since-epoch"),
]


@pytest.mark.parametrize(
    ("seconds", "expected"), [a[:2] for a in ALIGNED], ids=[a[2] for a in ALIGNED]
)
def test_next_multiple_after_is_epoch_aligned(seconds: int, expected: datetime) -> None:
    tick = next_multiple_after(START, seconds)
    assert tick == expected
    assert tick.tzinfo is UTC
    assert tick.timestamp() % seconds == 0
    assert next_multiple_after(tick, seconds) == tick + timedelta(seconds=seconds)


def test_next_multiple_after_on_a_tick_is_strictly_later() -> None:
    on_tick = datetime(2024, 5, 17, 14, tzinfo=UTC)
    assert next_multiple_after(on_tick, 3600) == datetime(2024, 5, 17, 15, tzinfo=UTC)
    just_before = on_tick - timedelta(microseconds=1)
    assert next_multiple_after(just_before, 3600) == on_tick


def test_next_multiple_after_takes_naive_as_utc_and_converts_aware() -> None:
    naive = datetime(2024, 5, 17, 13, 47, 21)
    plus_two = datetime(2024, 5, 17, 15, 47, 21, tzinfo=timezone(timedelta(hours=2)))
    assert next_multiple_after(naive, 3600) == datetime(2024, 5, 17, 14, tzinfo=UTC)
    assert next_multiple_after(plus_two, 3600) == datetime(2024, 5, 17, 14, tzinfo=UTC)


def test_next_multiple_after_works_before_the_epoch() -> None:
    before = datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert next_multiple_after(before, 60) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [0, -60], ids=["zero", "negative"])
def test_next_multiple_after_needs_a_positive_period(seconds: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        next_multiple_after(START, seconds)
