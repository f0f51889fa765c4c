"""The `query` verb: run SQL over a database of a data directory and print the result."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ..clock import SystemClock
from ..errors import EngineError
from ..storage import Storage
from .write import add_location_options, server_url

FORMATS = ("json", "jsonl", "csv", "table")
_DESCRIPTION = (
    "Run one read-only SQL statement over database DB, on a running server (-H/--host, --token) "
    "or in a data directory (--data-dir), and print the "
    "result as json (an array of row objects, the default), jsonl (one object per line), csv "
    "or table (aligned columns). Times are RFC 3339 text in UTC, as the HTTP API answers. "
    "Exit status: 0 on success, 1 when the query fails, 2 for a usage error."
)
_EPOCH = dt.datetime(1970, 1, 1)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `query` subcommand."""
    parser = subparsers.add_parser(
        "query", help="run SQL on a server or over a data directory", description=_DESCRIPTION
    )
    add_location_options(parser)
    parser.add_argument("sql", metavar="SQL", help="the SQL statement")
    parser.add_argument("--format", choices=FORMATS, default="json", help="output format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the query and print it in the chosen format."""
    from .remote import CliFailure

    try:
        host = server_url(args)
        if host is not None:
            sys.stdout.write(_query_server(args, host))
            return 0
    except CliFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.status
    try:
        storage = Storage(args.data_dir, SystemClock(), background=False)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        table = storage.query_arrow(args.database, args.sql)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    sys.stdout.write(render(table, args.format))
    return 0


def _query_server(args: argparse.Namespace, host: str) -> str:
    """The result from the server's `/api/v3/query_sql`, in the chosen format."""
    from .remote import ServerClient

    wire = "json" if args.format == "table" else args.format
    body = ServerClient(host, args.token, args.timeout).request(
        "GET", "/api/v3/query_sql", query={"db": args.database, "q": args.sql, "format": wire})
    text = body.decode("utf-8")
    if args.format != "table":
        return text if text.endswith("\n") or not text else text + "\n"
    rows: list[dict[str, Any]] = json.loads(text or "[]")
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pretty(names, [{name: row.get(name) for name in names} for row in rows])


def render(table: pa.Table, fmt: str) -> str:
    """A query result as text: json, jsonl, csv or table."""
    plain = plain_columns(table)
    if fmt == "csv":
        sink = io.BytesIO()
        pa_csv.write_csv(plain, sink)
        return sink.getvalue().decode()
    rows: list[dict[str, Any]] = plain.to_pylist()
    if fmt == "json":
        return json.dumps(rows, default=str) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row, default=str) + "\n" for row in rows)
    return pretty(plain.column_names, rows)


def plain_columns(table: pa.Table) -> pa.Table:
    """Columns text formats can hold: tags as strings, times as RFC 3339, NaN/inf as null."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
        elif pa.types.is_timestamp(kind):
            nanos = column.cast(pa.timestamp("ns", kind.tz)).cast(pa.int64()).to_pylist()
            suffix = "Z" if kind.tz else ""
            column = pa.chunked_array(
                [[None if ns is None else iso_time(ns) + suffix for ns in nanos]], pa.string()
            )
        elif pa.types.is_floating(kind):
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def iso_time(ns: int) -> str:
    """RFC 3339 text of nanoseconds since the epoch, with 0, 3, 6 or 9 fraction digits."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        width = 3 if fraction % 1_000_000 == 0 else 6 if fraction % 1000 == 0 else 9
        text += "." + f"{fraction:09d}"[:width]
    return text


def pretty(names: list[str], rows: list[dict[str, Any]]) -> str:
    """An aligned text table with a header rule, as the InfluxDB 3 CLI prints `pretty`."""
    cells = [["" if row[name] is None else str(row[name]) for name in names] for row in rows]
    widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(names)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([rule, line(names), rule, *(line(c) for c in cells), rule]) + "\n"
