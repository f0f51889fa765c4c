"""Line protocol: parse payloads into points or Arrow tables, and format points back.

The rules are InfluxDB 3's (its Rust `influxdb_line_protocol` parser plus the write
validator), not the Go reference's. Where they matter:

| topic | rule |
| --- | --- |
| lines | split on `\\n`, except inside a quoted field value or after a backslash |
| blank lines, `#` comments | skipped (leading spaces, tabs and newlines are ignored) |
| separators | one or more spaces between sections; a tab or `\\r` (CRLF) is an error |
| trailing spaces | allowed after a timestamp, an error after the field set |
| escapes | measurement: `\\,` `\\ ` `\\\\`; keys and tag values: also `\\=`; any other |
|  | `\\x` is kept as written; a name that ends with a backslash is an error |
| strings | `\\"` and `\\\\` unescape, a lone `\\` is kept, newlines allowed, 64 KiB max |
| numbers | `1`, `-1.5`, `1e3`, `1.5E-3` float; `5i` int64; `5u` uint64; no `+`, `.5`, `1.`, |
|  | NaN or inf; an integer out of range is an error; so is a float that overflows |
|  | to infinity (InfluxDB 3 would store inf; we refuse it, as the Go reference does) |
| booleans | `t T true True TRUE f F false False FALSE` |
| names | measurement, tag keys, tag values and field keys are non-empty, at most 64 KiB; |
|  | `_` prefixes are allowed (InfluxDB 3 accepts them; its docs only advise against) |
| control characters | not allowed in tag or field keys (InfluxDB 3 catalog: "key cannot |
|  | contain control characters", U+0000-U+001F, U+007F-U+009F); we apply the same rule |
|  | to measurement names (InfluxDB 3 does not check them); values may hold them |
| reserved | `time` and `__chunk_order` cannot be tag or field keys (catalog rule); |
|  | `parse_to_arrow` also reserves `_line`, its own line-number column |
| duplicates | a repeated tag key is an error; a repeated field key is an error, as in |
|  | InfluxDB 3 ("multiple instances of field"); a key used as tag and field is an error |
| one write | in `parse_to_arrow`, a field whose type differs from an earlier line of the same |
|  | measurement, or a name that is a tag in one line and a field in another, is an error |
| timestamps | an int64 in the write's precision; `auto` guesses s/ms/us/ns from the magnitude; |
|  | scaling past int64 is an error; lines without one get `default_time` |
|  | truncated to the precision (not for `auto`) |
| line numbers | physical, 1-based, counting every `\\n` (InfluxDB 3 counts only parsed lines) |
| bytes | decoded as UTF-8; a line that is not valid UTF-8 is an error on that line |

Where the Go reference (which produced the conformance corpus) differs, the cases are listed
with their reasons in `tests/lp_corpus_exceptions.json`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .lp_fast import parse_fast
from .lp_format import format_point
from .lp_model import (
    ArrowParseResult,
    FieldType,
    LineError,
    ParseResult,
    Point,
    Precision,
    default_time_ns,
    parse_precision,
    timestamp_to_ns,
)
from .lp_scan import LineFault, content_start, parse_line, split_lines
from .lp_tables import TableBuilder

__all__ = [
    "ArrowParseResult",
    "FieldType",
    "LineError",
    "ParseResult",
    "Point",
    "Precision",
    "format_point",
    "parse",
    "parse_to_arrow",
]

Data = str | bytes | bytearray | memoryview


def parse(data: Data, *, precision: str = "auto", default_time: int | None = None) -> ParseResult:
    """Parse a payload of many lines into points.

    Args:
        data: line protocol as text or UTF-8 bytes.
        precision: unit of the timestamps: auto, ns, us, ms, s (and InfluxDB 3's aliases).
        default_time: time in ns for lines without one; None leaves `Point.time` as None.

    Returns:
        The good lines as points and one `LineError` per bad line, both in input order.

    Raises:
        InvalidPrecision: `precision` is not an accepted name.
    """
    result = ParseResult()
    for _, _, item in _scan(data, parse_precision(precision), default_time):
        if isinstance(item, LineError):
            result.errors.append(item)
        else:
            result.points.append(item)
    return result


def parse_to_arrow(data: Data, *, precision: str = "auto", default_time: int) -> ArrowParseResult:
    """Parse a payload into one Arrow table per measurement.

    Each table has tag columns (string) and field columns (int64, uint64, float64, bool,
    string) in the order first seen, then `time` (int64 ns, never null) and `_line`
    (int32, the row's 1-based line number). Rows are in line order. A line that conflicts
    with an earlier line of the same measurement in this write is an error.

    Raises:
        InvalidPrecision: `precision` is not an accepted name.
    """
    unit = parse_precision(precision)
    fast = parse_fast(data, unit, default_time)
    if fast is not None:
        return fast
    return parse_to_arrow_general(data, unit, default_time)


def parse_to_arrow_general(data: Data, unit: Precision, default_time: int) -> ArrowParseResult:
    """`parse_to_arrow` by the general line-at-a-time parser (the fast path's fallback)."""
    result = ArrowParseResult()
    builders: dict[str, TableBuilder] = {}
    for number, line, item in _scan(data, unit, default_time):
        result.lines += 1
        if isinstance(item, Point):
            error = _add_point(builders, item, number, line)
            if error is None:
                continue
            item = error
        result.errors.append(item)
    result.tables = {name: builder.build() for name, builder in builders.items()}
    return result


def _add_point(
    builders: dict[str, TableBuilder], point: Point, number: int, line: str
) -> LineError | None:
    builder = builders.get(point.measurement)
    if builder is None:
        builder = builders[point.measurement] = TableBuilder()
    conflict = builder.conflict(point)
    if conflict is not None:
        return _schema_error(line, number, *conflict)
    assert point.time is not None
    builder.add(point, point.time, number)
    return None


def _schema_error(line: str, number: int, name: str, message: str) -> LineError:
    # Points keep no positions; the first occurrence of the name is close enough to point at.
    position = line.find(name, content_start(line))
    return LineError(number, position + 1 if position >= 0 else 1, message, line)


def _scan(
    data: Data,
    unit: Precision,
    default_time: int | None,
) -> Iterator[tuple[int, str, Point | LineError]]:
    text, lossy = _decode(data)
    fallback_time = default_time_ns(default_time, unit)
    for number, line in split_lines(text):
        start = content_start(line)
        if start < len(line):
            yield number, line, _scan_line(line, start, number, lossy, unit, fallback_time)


def _scan_line(
    line: str, start: int, number: int, lossy: bool, unit: Precision, fallback_time: int | None
) -> Point | LineError:
    if lossy:
        bad = _first_invalid_utf8(line)
        if bad >= 0:
            readable = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return LineError(number, bad + 1, "the line is not valid UTF-8", readable)
    try:
        scanned = parse_line(line, start)
    except LineFault as fault:
        return LineError(number, fault.column + 1, fault.message, line)
    time = fallback_time
    if scanned.timestamp is not None:
        time = timestamp_to_ns(scanned.timestamp, unit)
        if time is None:
            return LineError(
                number,
                scanned.timestamp_column + 1,
                f"timestamp {scanned.timestamp} is out of range for precision {unit.value}",
                line,
            )
    return Point(scanned.measurement, tuple(scanned.tags), tuple(scanned.fields), time)


def _decode(data: Data) -> tuple[str, bool]:
    if isinstance(data, str):
        return data, False
    raw = bytes(data)
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape"), True


def _first_invalid_utf8(line: str) -> int:
    for index, char in enumerate(line):
        if "\udc80" <= char <= "\udcff":
            return index
    return -1
