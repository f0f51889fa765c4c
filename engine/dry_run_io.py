"""What goes into and comes out of a dry run: input rows, schedules, write checks, tracebacks."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping

from . import ingest
from .batches import TableBatch
from .clock import Clock, now_ns
from .errors import InvalidName, InvalidTestInput, TriggerSpecError
from .names import validate_database_name
from .schema import TableSchema
from .spec import TriggerSpec
from .wal import WalFlush

__all__ = [
    "DEFAULT_TEST_SCHEDULE",
    "SchemaLookup",
    "input_batches",
    "parse_test_schedule",
    "plugin_traceback",
    "write_errors",
]

#: The schedule of a schedule dry run that names none: every second.
DEFAULT_TEST_SCHEDULE = "* * * * * *"

SchemaLookup = Callable[[str, str], TableSchema | None]

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def parse_test_schedule(schedule: str | None) -> TriggerSpec:
    """A dry run's schedule: a bare cron expression, `cron:EXPR` or `every:DURATION`.

    Raises:
        TriggerSpecError: The text is none of those (or names a non-schedule trigger kind).
    """
    text = (schedule or DEFAULT_TEST_SCHEDULE).strip()
    if not text.startswith(("cron:", "every:")):
        text = f"cron:{text}"
    spec = TriggerSpec.parse(text)
    if not spec.is_schedule:
        raise TriggerSpecError(text, "a schedule test needs a cron expression or every:DURATION")
    return spec


def input_batches(
    database: str, input_lp: str | bytes, clock: Clock, schema_of: SchemaLookup | None = None
) -> list[TableBatch]:
    """The `table_batches` a WAL plugin gets for `input_lp` (nanosecond timestamps).

    The lines are checked as a write to `database` would be (against its live tables when
    `schema_of` is given), but nothing is stored.

    Raises:
        InvalidTestInput: The input holds no lines, or a line is bad (every line must be valid).
    """
    parsed = ingest.parse(input_lp, precision="ns", default_time=now_ns(clock))
    lookup = schema_of or _no_schema
    checked = ingest.check(input_lp, parsed, lambda table: lookup(database, table))
    if checked.lines == 0:
        raise InvalidTestInput("it holds no lines (empty, blank or comments only)")
    if checked.errors:
        first = checked.errors[0]
        raise InvalidTestInput(
            f"line {first.line_number}: {first.message} ({len(checked.errors)} bad line(s); "
            f"line: {first.original_line!r})"
        )
    flush = WalFlush(0, {database: checked.tables})
    return [
        TableBatch(name, table, lambda name=name: flush.rows(database, name))  # type: ignore[misc]
        for name, table in flush.tables(database).items()
        if table.num_rows
    ]


def write_errors(
    database_writes: Mapping[str, list[str]], schema_of: SchemaLookup | None = None
) -> list[str]:
    """Check captured writes as the engine would apply them: the first bad line of each database.

    Returns:
        One message per database whose name is invalid or whose lines would be refused.
    """
    problems: list[str] = []
    lookup = schema_of or _no_schema
    for db, lines in database_writes.items():
        try:
            validate_database_name(db)
        except InvalidName as exc:
            problems.append(f"database name {db} is invalid: {exc.reason}")
            continue
        text = "\n".join(lines)
        parsed = ingest.parse(text, precision="ns", default_time=0)
        checked = ingest.check(text, parsed, functools.partial(lookup, db))
        if checked.errors:
            first = checked.errors[0]
            problems.append(
                f"line protocol parse error on write to db {db}: line {first.line_number}: "
                f"{first.message}: {first.original_line!r}"
            )
    return problems


def plugin_traceback(text: str) -> str:
    """A traceback without the engine's own frames above the plugin's first frame.

    A part of a chained traceback that has no plugin frame is kept whole.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        if not line.startswith("Traceback (most recent call last):"):
            continue
        first_plugin = _first_plugin_frame(lines, index)
        if first_plugin is not None:
            index = first_plugin
    return "".join(out)


def _first_plugin_frame(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        line = lines[index]
        if line.startswith('  File "'):
            if not line.startswith(f'  File "{_ENGINE_DIR}'):
                return index
        elif not line.startswith("    "):
            return None  # the block ended (the exception line) without a plugin frame
    return None


def _no_schema(db: str, table: str) -> TableSchema | None:
    return None
