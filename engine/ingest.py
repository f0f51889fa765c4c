"""Turning a line-protocol payload into schema-checked rows per table plus every refused line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import WriteError
from .lineprotocol import ArrowParseResult, LineError, parse_to_arrow
from .lp_model import LINE_COLUMN
from .lp_scan import split_lines
from .schema import TableSchema, check_batch

SchemaLookup = Callable[[str], TableSchema | None]
Payload = str | bytes | bytearray | memoryview


@dataclass
class CheckedWrite:
    """What a write will store: accepted rows per table (stored layout) and refused lines."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0

    @property
    def rows(self) -> int:
        """Rows accepted over every table (one per line)."""
        return sum(t.num_rows for t in self.tables.values())


def parse(data: Payload, *, precision: str, default_time: int) -> ArrowParseResult:
    """Parse a payload to Arrow tables (the part of a write that needs no lock)."""
    return parse_to_arrow(data, precision=precision, default_time=default_time)


def check(data: Payload, parsed: ArrowParseResult, schema_of: SchemaLookup) -> CheckedWrite:
    """Check each parsed table against its current schema.

    Args:
        data: the payload, to quote lines the schema check refuses.
        parsed: what `parse` made of it.
        schema_of: the current schema of a table of the target database (None if new).

    Returns:
        The accepted rows per table and every refused line (parse and schema errors), in
        line order.
    """
    result = CheckedWrite(lines=parsed.lines)
    refused: list[tuple[int, str]] = []
    for table, batch in parsed.tables.items():
        outcome = check_batch(schema_of(table), table, batch)
        refused.extend(outcome.rejected)
        accepted = outcome.accepted
        if LINE_COLUMN in accepted.column_names:
            accepted = accepted.drop_columns([LINE_COLUMN])
        if accepted.num_rows:
            result.tables[table] = accepted
    result.errors = sorted(
        [*parsed.errors, *_line_errors(data, refused)], key=lambda e: e.line_number
    )
    return result


def _line_errors(data: Payload, refused: Iterable[tuple[int, str]]) -> list[LineError]:
    wanted = dict(refused)
    if not wanted:
        return []
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", errors="replace")
    lines = {number: line for number, line in split_lines(text) if number in wanted}
    # A schema refusal is about the whole line; column 1 points at its start.
    return [LineError(n, 1, message, lines.get(n, "")) for n, message in sorted(wanted.items())]


def refuse(db: str, checked: CheckedWrite, *, accept_partial: bool) -> None:
    """Raise `WriteError` when the write must store nothing.

    Raises:
        WriteError: the payload has no lines, no line is valid, or a line is bad and
            `accept_partial` is False.
    """
    if checked.lines == 0:
        raise WriteError(
            f"write to database {db!r} refused: it holds no lines (empty, blank or comments only)"
        )
    if checked.rows == 0:
        raise WriteError(
            f"write to database {db!r} refused: none of its {checked.lines} line(s) could be "
            "written",
            checked.errors,
        )
    if checked.errors and not accept_partial:
        raise WriteError(
            f"write to database {db!r} refused: {len(checked.errors)} of its "
            f"{checked.lines} line(s) are bad and accept_partial is False, so nothing was "
            "written",
            checked.errors,
        )
