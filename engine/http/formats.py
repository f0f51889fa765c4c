"""Query results as HTTP bodies: JSON, JSON lines, CSV and Parquet from an Arrow table."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import InvalidRequest

MEDIA_TYPES = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
_ALIASES = {"json_lines": "jsonl"}
_ACCEPT = (
    ("application/vnd.apache.parquet", "parquet"),
    ("text/csv", "csv"),
    ("application/jsonl", "jsonl"),
    ("application/x-ndjson", "jsonl"),
)
_EPOCH = dt.datetime(1970, 1, 1)
_NS = 1_000_000_000


def choose_format(explicit: str | None, accept: str | None) -> str:
    """The output format: the `format` field when given, else from the `Accept` header.

    Raises:
        InvalidRequest: `explicit` names no supported format.
    """
    if explicit:
        name = _ALIASES.get(explicit.lower(), explicit.lower())
        if name not in MEDIA_TYPES:
            accepted = ", ".join([*MEDIA_TYPES, *_ALIASES])
            raise InvalidRequest(f"unsupported format {explicit!r}; accepted: {accepted}")
        return name
    lowered = (accept or "").lower()
    for media, name in _ACCEPT:
        if media in lowered:
            return name
    return "json"


def render(table: pa.Table, fmt: str) -> bytes:
    """Serialise a query result in the chosen format (from `choose_format`)."""
    return _RENDERERS[fmt](table)


def _json(table: pa.Table) -> bytes:
    return json.dumps(_rows(table), default=_json_default, separators=(",", ":")).encode()


def _jsonl(table: pa.Table) -> bytes:
    lines = [json.dumps(row, default=_json_default, separators=(",", ":")) for row in _rows(table)]
    return "".join(line + "\n" for line in lines).encode()


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    flat = _plain_columns(table, nested_as_json=True)
    pa_csv.write_csv(flat, sink)
    return sink.getvalue()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


_RENDERERS: dict[str, Callable[[pa.Table], bytes]] = {
    "json": _json,
    "jsonl": _jsonl,
    "csv": _csv,
    "parquet": _parquet,
}


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _plain_columns(table, nested_as_json=False).to_pylist()
    return rows


def _plain_columns(table: pa.Table, *, nested_as_json: bool) -> pa.Table:
    """Columns JSON and CSV can hold: timestamps as ISO text, NaN/inf as null, no dictionaries."""
    columns = [_plain(column, nested_as_json) for column in table.columns]
    return pa.table(columns, names=table.column_names)


def _plain(column: pa.ChunkedArray, nested_as_json: bool) -> pa.ChunkedArray | pa.Array:
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _plain(column.cast(kind.value_type), nested_as_json)
    if pa.types.is_timestamp(kind):
        return _iso_column(column)
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    if nested_as_json and (pa.types.is_nested(kind) or pa.types.is_binary(kind)):
        return pa.array([_cell_text(v) for v in column.to_pylist()], pa.string())
    return column


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return str(_json_default(value))
    return json.dumps(value, default=_json_default)


def _iso_column(column: pa.ChunkedArray) -> pa.Array:
    suffix = "Z" if column.type.tz else ""
    nanos = column.cast(pa.timestamp("ns", column.type.tz)).cast(pa.int64()).to_pylist()
    return pa.array([None if ns is None else iso_time(ns) + suffix for ns in nanos], pa.string())


def iso_time(ns: int) -> str:
    """RFC 3339 text of nanoseconds since the epoch, with 0, 3, 6 or 9 fraction digits."""
    seconds, fraction = divmod(ns, _NS)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        digits = f"{fraction:09d}"
        width = 3 if fraction % 1_000_000 == 0 else 6 if fraction % 1000 == 0 else 9
        text += "." + digits[:width]
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
