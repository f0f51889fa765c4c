"""Durations such as `1h30m`: parsing, canonical formatting and epoch-aligned ticks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from .errors import InvalidDuration

SECONDS_PER_UNIT: dict[str, int] = {
    "y": 31_557_600,  # 365.25 days, the reference server's (humantime's) year
    "M": 2_630_016,  # 30.44 days, the reference server's month
    "w": 604_800,
    "d": 86_400,
    "h": 3_600,
    "m": 60,
    "s": 1,
}
"""Length of each canonical unit in seconds, largest first."""

MAX_EVERY_SECONDS = SECONDS_PER_UNIT["y"]
"""The longest `every:` interval: exactly one year."""

# Long spellings the reference server (humantime) accepts, so specs written for it still parse.
# Case matters: `m` is a minute and `M` a month.
_ALIASES: dict[str, str] = {
    **{name: "s" for name in ("s", "sec", "secs", "second", "seconds")},
    **{name: "m" for name in ("m", "min", "mins", "minute", "minutes")},
    **{name: "h" for name in ("h", "hr", "hrs", "hour", "hours")},
    **{name: "d" for name in ("d", "day", "days")},
    **{name: "w" for name in ("w", "wk", "wks", "week", "weeks")},
    **{name: "M" for name in ("M", "month", "months")},
    **{name: "y" for name in ("y", "yr", "yrs", "year", "years")},
}

_SPAN = re.compile(r"\s*(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[^\W\d_]*)\s*")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def parse_duration(text: str) -> float:
    """Parse a duration made of `<number><unit>` spans into seconds.

    Spans may be separated by whitespace and may repeat units (they add up). Numbers may have a
    fractional part (`1.5h`); the sum is computed exactly before it becomes a float.

    Args:
        text: for example `30s`, `1h30m`, `1.5h` or `2 weeks`.

    Returns:
        The total length in seconds (zero is possible; callers set their own bounds).

    Raises:
        InvalidDuration: the text is empty, has a sign, a number without a unit, or an unknown unit.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidDuration(text, "the duration is empty")
    if stripped[0] in "+-":
        raise InvalidDuration(text, "a duration has no sign; it must be positive as written")
    total = Fraction(0)
    position = 0
    while position < len(stripped):
        match = _SPAN.match(stripped, position)
        if match is None:
            raise InvalidDuration(text, f"expected a number at {stripped[position:]!r}")
        total += Fraction(match["number"]) * _unit_seconds(text, match["number"], match["unit"])
        position = match.end()
    return float(total)


def _unit_seconds(text: str, number: str, unit: str) -> int:
    if not unit:
        raise InvalidDuration(text, f"the number {number} has no unit")
    canonical = _ALIASES.get(unit)
    if canonical is None:
        raise InvalidDuration(text, f"unknown unit {unit!r}")
    return SECONDS_PER_UNIT[canonical]


def format_duration(seconds: float) -> str:
    """Render a duration in its canonical form, e.g. `1h30m` for 5400 seconds.

    Whole seconds are split into the fewest `<count><unit>` spans, largest unit first, using
    weeks, days, hours, minutes and seconds, and months or a year only where they make the form
    shorter (so `31d` renders as `4w3d`, `2630016s` as `1M`). A fractional part is added to the
    seconds span (`1m0.5s`). `parse_duration(format_duration(x)) == x` for every finite x >= 0.

    Args:
        seconds: a non-negative number of seconds.

    Returns:
        The canonical text; `0s` for zero.

    Raises:
        ValueError: seconds is negative or not finite.
    """
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"cannot format a duration of {seconds!r} seconds")
    exact = Decimal(repr(float(seconds)))
    whole = int(exact)
    fraction = exact - whole
    counts = _fewest_spans(whole)
    parts = [f"{count}{unit}" for unit, count in counts.items() if count and unit != "s"]
    last = counts["s"] + fraction
    if last:
        parts.append(f"{last.normalize():f}s")
    return "".join(parts) or "0s"


def _fewest_spans(whole: int) -> dict[str, int]:
    """Counts per unit for `whole` seconds, choosing how many years and months to use."""
    year, month = SECONDS_PER_UNIT["y"], SECONDS_PER_UNIT["M"]
    best: dict[str, int] | None = None
    for years in sorted({0, whole // year}):
        rest = whole - years * year
        for months in range(min(rest // month, 12) + 1):
            counts = {"y": years, "M": months, **_fixed_spans(rest - months * month)}
            if best is None or _rank(counts) < _rank(best):
                best = counts
    assert best is not None
    return best


def _fixed_spans(whole: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for unit in ("w", "d", "h", "m", "s"):
        counts[unit], whole = divmod(whole, SECONDS_PER_UNIT[unit])
    return counts


def _rank(counts: dict[str, int]) -> tuple[int, tuple[int, ...]]:
    # Fewest spans first; on a tie, the form that puts more into the larger units.
    spans = sum(1 for count in counts.values() if count)
    return spans, tuple(-counts[unit] for unit in SECONDS_PER_UNIT)


def next_multiple_after(dt: datetime, seconds: int) -> datetime:
    """The first instant strictly after `dt` that is a whole multiple of `seconds` since the epoch.

    This is how the reference server places `every:` ticks: `every:1h` fires on the hour (UTC),
    `every:7m` on epoch multiples of seven minutes. Arithmetic is exact (integer microseconds).

    Args:
        dt: an aware datetime, or a naive one taken as UTC.
        seconds: the period, a positive whole number of seconds.

    Returns:
        The next tick, timezone-aware UTC.
    """
    if seconds <= 0:
        raise ValueError(f"the period must be positive, got {seconds!r} seconds")
    aware = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
    elapsed = (aware - _EPOCH) // _MICROSECOND
    period = seconds * 1_000_000
    return _EPOCH + (elapsed // period + 1) * period * _MICROSECOND
