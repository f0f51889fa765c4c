"""Line-protocol value types (points, errors, results) and write-precision handling."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import InvalidPrecision

if TYPE_CHECKING:
    import pyarrow as pa

FieldValue = int | float | bool | str

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
U64_MAX = (1 << 64) - 1
# InfluxDB 3 (influxdb_line_protocol STRING_LENGTH_LIMIT_IN_BYTES): names and string values.
STRING_LIMIT_BYTES = 65_536
# Column names the InfluxDB 3 catalog reserves (RESERVED_COLUMN_NAMES).
RESERVED_NAMES = frozenset({"time", "__chunk_order"})
# The row's line number column that parse_to_arrow adds; reserved in Arrow output only.
LINE_COLUMN = "_line"
#: How a tag column is told from a string field: the Arrow field metadata IOx gives tags.
TAG_METADATA = {b"iox::column::type": b"iox::column_type::tag"}
TIME_COLUMN = "time"


class FieldType(enum.StrEnum):
    """The five line-protocol field types; int64 and uint64 stay distinct."""

    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT64 = "float64"
    BOOL = "bool"
    STRING = "string"


@dataclass(frozen=True)
class Point:
    """One parsed line: tags and fields in line order, time in ns (None if absent)."""

    measurement: str
    tags: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, FieldType, FieldValue], ...] = ()
    time: int | None = None


@dataclass(frozen=True)
class LineError:
    """A bad line: 1-based line number and column, what is wrong, and the line as written."""

    line_number: int
    column: int
    message: str
    original_line: str


@dataclass
class ParseResult:
    """The good lines as points and the bad lines as errors, each in input order."""

    points: list[Point] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


@dataclass
class ArrowParseResult:
    """One Arrow table per measurement, the bad lines, and how many lines were seen."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0


class Precision(enum.StrEnum):
    """Write precision; `AUTO` guesses the unit of each timestamp as InfluxDB 3 does."""

    AUTO = "auto"
    NANOSECOND = "ns"
    MICROSECOND = "us"
    MILLISECOND = "ms"
    SECOND = "s"


_PRECISION_NAMES = {
    "auto": Precision.AUTO,
    "ns": Precision.NANOSECOND,
    "n": Precision.NANOSECOND,
    "nanosecond": Precision.NANOSECOND,
    "us": Precision.MICROSECOND,
    "u": Precision.MICROSECOND,
    "microsecond": Precision.MICROSECOND,
    "ms": Precision.MILLISECOND,
    "millisecond": Precision.MILLISECOND,
    "s": Precision.SECOND,
    "second": Precision.SECOND,
}

MULTIPLIER = {
    Precision.NANOSECOND: 1,
    Precision.MICROSECOND: 1_000,
    Precision.MILLISECOND: 1_000_000,
    Precision.SECOND: 1_000_000_000,
}


def parse_precision(precision: str | Precision) -> Precision:
    """Map a precision name (InfluxDB 3's short and long spellings) to a `Precision`.

    Raises:
        InvalidPrecision: the name is not one InfluxDB 3 accepts.
    """
    if isinstance(precision, Precision):
        return precision
    if isinstance(precision, str):
        found = _PRECISION_NAMES.get(precision.strip().lower())
        if found is not None:
            return found
    raise InvalidPrecision(precision)


def guess_precision(timestamp: int) -> Precision:
    """InfluxDB 3's `auto` rule: the magnitude of the value picks s, ms, us or ns."""
    whole_seconds = abs(timestamp) // 1_000_000_000
    if whole_seconds < 5:
        return Precision.SECOND
    if whole_seconds < 5_000:
        return Precision.MILLISECOND
    if whole_seconds < 5_000_000:
        return Precision.MICROSECOND
    return Precision.NANOSECOND


def timestamp_to_ns(timestamp: int, precision: Precision) -> int | None:
    """Scale a written timestamp to ns; None when the result leaves the int64 range."""
    unit = guess_precision(timestamp) if precision is Precision.AUTO else precision
    nanos = timestamp * MULTIPLIER[unit]
    return nanos if I64_MIN <= nanos <= I64_MAX else None


def default_time_ns(default_time: int | None, precision: Precision) -> int | None:
    """The time for lines without one: truncated toward zero to the precision (not for auto)."""
    return None if default_time is None else truncate_time(default_time, precision)


def truncate_time(nanos: int, precision: Precision) -> int:
    """`nanos` rounded toward zero to a whole number of precision units; unchanged for auto."""
    if precision is Precision.AUTO:
        return nanos
    unit = MULTIPLIER[precision]
    truncated = abs(nanos) // unit * unit
    return truncated if nanos >= 0 else -truncated
