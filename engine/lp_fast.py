"""The vectorised line-protocol path: simple payloads straight into Arrow columns.

A payload qualifies when it has no backslash, tab, carriage return or NUL, and no blank,
indented or comment line; string values must hold no space, comma, quote or newline. It is
split by `pyarrow.csv` on spaces into series, fields and (optionally) time, then by
`pyarrow.compute` on `,` and `=`. Anything the vectorised checks cannot vouch for (a bad
line, a type conflict, a reserved name, a duplicate key) makes `parse_fast` return None,
and the caller uses the general parser, so both paths always give the same result.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .lp_fast_table import CONTROL, NeedsGeneralParser, build_table, counting
from .lp_model import (
    MULTIPLIER,
    STRING_LIMIT_BYTES,
    ArrowParseResult,
    Precision,
    truncate_time,
)

# Blank, indented and comment lines are caught later (row count, empty or '#' measurement).
_REJECT = (b"\\", b"\t", b"\r", b"\x00")


def parse_fast(
    data: str | bytes | bytearray | memoryview, unit: Precision, default_time: int
) -> ArrowParseResult | None:
    """Parse a simple payload vectorised; None when the general parser must do it.

    `default_time` (ns) is used, truncated to the precision, for lines without a timestamp.
    """
    default_time = truncate_time(default_time, unit)
    buf = data.encode() if isinstance(data, str) else bytes(data)
    if not _eligible(buf):
        return None
    try:
        raw = _read(buf)
        if raw.num_rows != buf.count(b"\n") + (not buf.endswith(b"\n")):
            return None  # the CSV reader skipped blank lines
        return _convert(raw, unit, default_time)
    except (NeedsGeneralParser, pa.ArrowInvalid):
        return None


def _eligible(buf: bytes) -> bool:
    return bool(buf) and not any(marker in buf for marker in _REJECT)


def _read(buf: bytes) -> pa.Table:
    first_line = buf[: buf.find(b"\n")] if b"\n" in buf else buf
    names = ["series", "fields", "time"][: first_line.count(b" ") + 1]
    if len(names) < 2:
        raise NeedsGeneralParser
    types = {"series": pa.string(), "fields": pa.string(), "time": pa.int64()}
    return pacsv.read_csv(
        io.BytesIO(buf),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
        parse_options=pacsv.ParseOptions(
            delimiter=" ", quote_char=False, escape_char=False, double_quote=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: types[name] for name in names},
            null_values=[],
            strings_can_be_null=False,
        ),
    )


def _convert(raw: pa.Table, unit: Precision, default_time: int) -> ArrowParseResult:
    count = raw.num_rows
    series = raw["series"].combine_chunks()
    fields = raw["fields"].combine_chunks()
    for column in (series, fields):
        if pc.max(pc.binary_length(column)).as_py() > STRING_LIMIT_BYTES:
            raise NeedsGeneralParser
    times = _times(raw, unit, default_time)
    lines = counting(count, 1, pa.int32())
    parts = pc.split_pattern(series, ",")
    measurements = pc.list_element(parts, 0)
    groups = _groups(measurements)
    result = ArrowParseResult(lines=count)
    for name, rows in groups:
        subset = (
            (parts, fields, times, lines)
            if rows is None
            else _take(rows, parts, fields, times, lines)
        )
        result.tables[name] = build_table(*subset)
    return result


def _take(rows: pa.Array, *columns: pa.Array) -> tuple[pa.Array, ...]:
    return tuple(column.take(rows) for column in columns)


def _groups(measurements: pa.Array) -> list[tuple[str, pa.Array | None]]:
    """(measurement, row indices in line order) per measurement; None for all rows."""
    encoded = pc.dictionary_encode(measurements)
    names = encoded.dictionary.to_pylist()
    for name in names:
        if not name or name.startswith("#") or CONTROL.search(name):
            raise NeedsGeneralParser
    if len(names) == 1:
        return [(names[0], None)]
    order = pc.sort_indices(encoded.indices)
    counts = pc.value_counts(encoded.indices)
    sizes = dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    groups, start = [], 0
    for code, name in enumerate(names):
        groups.append((name, order.slice(start, sizes[code])))
        start += sizes[code]
    return groups


def _times(raw: pa.Table, unit: Precision, default_time: int) -> pa.Array:
    if "time" not in raw.column_names:
        return pa.repeat(pa.scalar(default_time, pa.int64()), raw.num_rows)
    written = raw["time"].combine_chunks()
    if unit is not Precision.AUTO:
        return pc.multiply_checked(written, MULTIPLIER[unit])
    seconds = pc.divide(pc.abs(written), 1_000_000_000)
    scale = pc.if_else(
        pc.less(seconds, 5),
        MULTIPLIER[Precision.SECOND],
        pc.if_else(
            pc.less(seconds, 5_000),
            MULTIPLIER[Precision.MILLISECOND],
            pc.if_else(pc.less(seconds, 5_000_000), MULTIPLIER[Precision.MICROSECOND], 1),
        ),
    )
    return pc.multiply_checked(written, scale)
