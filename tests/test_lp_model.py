"""Write precisions: names, InfluxDB 3's auto guess, scaling and default-time truncation."""

from __future__ import annotations

import pytest

from engine.errors import InvalidPrecision
from engine.lp_model import (
    Precision,
    default_time_ns,
    guess_precision,
    parse_precision,
    timestamp_to_ns,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("auto", Precision.AUTO), ("ns", Precision.NANOSECOND), ("n", Precision.NANOSECOND),
     ("nanosecond", Precision.NANOSECOND), ("us", Precision.MICROSECOND),
     ("u", Precision.MICROSECOND), ("microsecond", Precision.MICROSECOND),
     ("ms", Precision.MILLISECOND), ("millisecond", Precision.MILLISECOND),
     ("s", Precision.SECOND), ("second", Precision.SECOND), ("MS", Precision.MILLISECOND),
     (Precision.SECOND, Precision.SECOND)],
    ids=["auto", "ns", "n", "nanosecond", "us", "u", "microsecond", "ms", "millisecond", "s",
         "second", "upper-case", "enum"],
)
def test_precision_names_follow_influxdb3(name: str | Precision, expected: Precision) -> None:
    assert parse_precision(name) is expected


@pytest.mark.parametrize("name", ["m", "h", "minute", "1ns", "", 5], ids=repr)
def test_unknown_precisions_raise_a_value_error(name: object) -> None:
    with pytest.raises(InvalidPrecision, match=r"auto, ns \(n, nanosecond\), us") as caught:
        parse_precision(name)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [(0, Precision.SECOND), (4_999_999_999, Precision.SECOND),
     (5_000_000_000, Precision.MILLISECOND), (4_999_999_999_999, Precision.MILLISECOND),
     (5_000_000_000_000, Precision.MICROSECOND),
     (4_999_999_999_999_999, Precision.MICROSECOND),
     (5_000_000_000_000_000, Precision.NANOSECOND), (-5_000_000_000, Precision.MILLISECOND)],
    ids=["zero", "s-top", "ms-bottom", "ms-top", "us-bottom", "us-top", "ns-bottom",
         "negative"],
)
def test_auto_guesses_the_unit_from_the_magnitude(timestamp: int, expected: Precision) -> None:
    assert guess_precision(timestamp) is expected


def test_scaling_reports_overflow_as_none() -> None:
    assert timestamp_to_ns(9_223_372_036, Precision.SECOND) == 9_223_372_036_000_000_000
    assert timestamp_to_ns(9_223_372_037, Precision.SECOND) is None
    assert timestamp_to_ns(-9_223_372_037, Precision.SECOND) is None
    assert timestamp_to_ns(4_999_999_999, Precision.AUTO) == 4_999_999_999_000_000_000


@pytest.mark.parametrize(
    ("precision", "expected"),
    [(Precision.SECOND, -1_000_000_000), (Precision.MILLISECOND, -1_234_000_000),
     (Precision.AUTO, -1_234_567_891)],
    ids=["s", "ms", "auto"],
)
def test_default_time_truncates_toward_zero(precision: Precision, expected: int) -> None:
    assert default_time_ns(-1_234_567_891, precision) == expected
    assert default_time_ns(None, precision) is None
