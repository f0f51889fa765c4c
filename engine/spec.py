"""Trigger specifications: parsing, canonical text, fire times and plugin entry points.

Accepted forms (matched case-sensitively after trimming surrounding whitespace; the text after the
prefix is trimmed too):

- `table:NAME`: WAL trigger for one table; NAME is non-empty.
- `all_tables`: WAL trigger for every table (exact text).
- `cron:EXPR`: schedule; the dialect is described in `engine.cron`. The canonical form keeps the
  expression as written, with runs of whitespace reduced to single spaces.
- `every:DURATION`: schedule; spans of `s m h d w M y` (or humantime's long names) such as
  `1h30m` or `1.5h`. The total must be a whole number of seconds from 1s to 1y (31,557,600 s)
  inclusive. Ticks fall on multiples of the interval since the Unix epoch, as in the reference
  server. Canonical form: fewest spans, largest unit first (`every:90s` -> `every:1m30s`).
- `request:PATH`: HTTP endpoint `/api/v3/engine/PATH`. PATH is one or more `/`-separated
  non-empty segments, none of them `.` or `..`, with no leading `/`, no whitespace or control
  characters, and no `?`, `#` or backslash (those cannot be part of a routed URL path).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from .cron import CronExpression
from .durations import MAX_EVERY_SECONDS, format_duration, next_multiple_after, parse_duration
from .errors import (
    InvalidCronExpression,
    InvalidDuration,
    NotAScheduleTrigger,
    TriggerSpecError,
)


class TriggerKind(enum.StrEnum):
    """What makes a trigger run."""

    TABLE = "table"
    ALL_TABLES = "all_tables"
    CRON = "cron"
    EVERY = "every"
    REQUEST = "request"


_PREFIXES = {
    "table": TriggerKind.TABLE,
    "cron": TriggerKind.CRON,
    "every": TriggerKind.EVERY,
    "request": TriggerKind.REQUEST,
}
_PATH_FORBIDDEN = frozenset("?#\\")


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerSpec:
    """A validated trigger specification; build one with `TriggerSpec.parse(text)`.

    Direct construction validates too: exactly the field of the kind is set (`table_name` for
    `table`, `cron` for `cron`, `every` in seconds for `every`, `path` for `request`).
    """

    kind: TriggerKind
    table_name: str | None = None
    cron: str | None = None
    every: float | None = None
    path: str | None = None
    _schedule: CronExpression | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = _coerce_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        _check_only_own_field(self)
        if kind is TriggerKind.TABLE:
            _check_table_name(self.table_name)
        elif kind is TriggerKind.CRON:
            expression = _compile_cron(self.cron)
            object.__setattr__(self, "cron", str(expression))
            object.__setattr__(self, "_schedule", expression)
        elif kind is TriggerKind.EVERY:
            object.__setattr__(self, "every", _check_every(self.every))
        elif kind is TriggerKind.REQUEST:
            _check_path(self.path)

    @classmethod
    def parse(cls, text: str) -> TriggerSpec:
        """Parse a trigger specification such as `cron:0 0 6 * * 1-5` or `every:1h30m`.

        Args:
            text: the specification; surrounding whitespace is ignored.

        Returns:
            The validated specification; `TriggerSpec.parse(str(spec)) == spec`.

        Raises:
            TriggerSpecError: the text is not one of the accepted forms; the message says what is
                wrong and lists the forms.
        """
        if not isinstance(text, str):
            raise TriggerSpecError(repr(text), f"expected a string, got {type(text).__name__}")
        stripped = text.strip()
        try:
            return _build(cls, stripped)
        except TriggerSpecError as error:
            raise TriggerSpecError(stripped, error.problem) from None

    def __str__(self) -> str:
        if self.kind is TriggerKind.TABLE:
            return f"table:{self.table_name}"
        if self.kind is TriggerKind.ALL_TABLES:
            return "all_tables"
        if self.kind is TriggerKind.CRON:
            return f"cron:{self.cron}"
        if self.kind is TriggerKind.EVERY:
            assert self.every is not None
            return f"every:{format_duration(self.every)}"
        return f"request:{self.path}"

    @property
    def is_wal(self) -> bool:
        """True for `table:` and `all_tables`, which run on WAL flushes."""
        return self.kind in (TriggerKind.TABLE, TriggerKind.ALL_TABLES)

    @property
    def is_schedule(self) -> bool:
        """True for `cron:` and `every:`."""
        return self.kind in (TriggerKind.CRON, TriggerKind.EVERY)

    @property
    def is_request(self) -> bool:
        """True for `request:`."""
        return self.kind is TriggerKind.REQUEST

    def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
        """The first fire time strictly after `dt`.

        Args:
            dt: an aware datetime, or a naive one taken as UTC.
            tz: for `cron:`, match on this zone's wall clock (see `engine.cron` for daylight
                saving); `every:` ticks are epoch-aligned instants and ignore it.

        Returns:
            Timezone-aware UTC; None only for a `cron:` whose year field has run out.

        Raises:
            NotAScheduleTrigger: the specification is not `cron:` or `every:`.
        """
        if self._schedule is not None:
            return self._schedule.next_after(dt, tz)
        if self.kind is TriggerKind.EVERY and self.every is not None:
            return next_multiple_after(dt, int(self.every))
        raise NotAScheduleTrigger(str(self))


def _build(cls: type[TriggerSpec], text: str) -> TriggerSpec:
    if text == "all_tables":
        return cls(kind=TriggerKind.ALL_TABLES)
    head, colon, rest = text.partition(":")
    kind = _PREFIXES.get(head) if colon else None
    if kind is None:
        raise TriggerSpecError(text, _unknown_form(text))
    rest = rest.strip()
    if kind is TriggerKind.TABLE:
        return cls(kind=kind, table_name=rest)
    if kind is TriggerKind.CRON:
        return cls(kind=kind, cron=rest)
    if kind is TriggerKind.REQUEST:
        return cls(kind=kind, path=rest)
    try:
        seconds = parse_duration(rest)
    except InvalidDuration as error:
        raise TriggerSpecError(text, f"every: {error.problem}") from None
    return cls(kind=kind, every=seconds)


def _unknown_form(text: str) -> str:
    if not text:
        return "the specification is empty"
    if text.startswith("all_tables"):
        return "'all_tables' takes nothing after it"
    for prefix in (*(f"{name}:" for name in _PREFIXES), "all_tables"):
        if text.lower().startswith(prefix):
            return f"the prefix must be written in lower case, as {prefix!r}"
    head = text.split(":", 1)[0]
    if head in _PREFIXES:
        return f"{head!r} needs a colon and a value, as in '{head}:<...>'"
    return f"unknown form {head!r}"


def _coerce_kind(kind: object) -> TriggerKind:
    if isinstance(kind, str) and kind in TriggerKind.__members__.values():
        return TriggerKind(kind)
    raise TriggerSpecError(str(kind), f"unknown trigger kind {kind!r}")


def _check_only_own_field(spec: TriggerSpec) -> None:
    own = {
        TriggerKind.TABLE: "table_name",
        TriggerKind.CRON: "cron",
        TriggerKind.EVERY: "every",
        TriggerKind.REQUEST: "path",
    }.get(spec.kind)
    for name in ("table_name", "cron", "every", "path"):
        value = getattr(spec, name)
        if name == own and value is None:
            raise TriggerSpecError(f"{spec.kind}:", f"a {spec.kind} trigger needs {name}")
        if name != own and value is not None:
            raise TriggerSpecError(
                str(spec.kind), f"a {spec.kind} trigger has no {name} (got {value!r})"
            )


def _check_table_name(name: str | None) -> None:
    if not isinstance(name, str) or not name.strip():
        raise TriggerSpecError(f"table:{name or ''}", "the table name is empty")
    if name != name.strip():
        raise TriggerSpecError(f"table:{name}", "the table name has surrounding whitespace")


def _compile_cron(expression: str | None) -> CronExpression:
    try:
        return CronExpression(expression if isinstance(expression, str) else "")
    except InvalidCronExpression as error:
        raise TriggerSpecError(f"cron:{expression}", f"cron: {error.problem}") from None


def _check_every(seconds: float | None) -> float:
    text = f"every:{seconds}s"
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
    ):
        raise TriggerSpecError(text, "every: the interval must be a number of seconds")
    if seconds < 1:
        raise TriggerSpecError(text, "every: the interval must be at least 1s")
    if seconds > MAX_EVERY_SECONDS:
        raise TriggerSpecError(
            text,
            f"every: the interval {format_duration(seconds)} is longer than the maximum of 1y "
            f"({MAX_EVERY_SECONDS} seconds)",
        )
    if seconds != int(seconds):
        raise TriggerSpecError(
            text,
            f"every: the interval {format_duration(seconds)} is not a whole number of seconds",
        )
    return float(seconds)


def _check_path(path: str | None) -> None:
    if not isinstance(path, str) or not path:
        raise TriggerSpecError("request:", "the request path is empty")
    problem = _path_problem(path)
    if problem:
        raise TriggerSpecError(f"request:{path}", f"the request path {problem}")


def _path_problem(path: str) -> str | None:
    if path.startswith("/"):
        return "must not start with '/' (it is relative to /api/v3/engine/)"
    bad = sorted({c for c in path if c in _PATH_FORBIDDEN or c.isspace() or not c.isprintable()})
    if bad:
        return f"must not contain {', '.join(repr(c) for c in bad)}"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "must not have empty, '.' or '..' segments"
    return None


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """The function a plugin defines for a trigger kind, and its reference signature."""

    name: str
    signature: str

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names in order, e.g. `('influxdb3_local', 'table_batches', 'args')`."""
        inner = self.signature[self.signature.index("(") + 1 : -1]
        return tuple(part.split("=")[0].strip() for part in inner.split(","))


_WAL_ENTRY = EntryPoint(
    "process_writes", "process_writes(influxdb3_local, table_batches, args=None)"
)
_SCHEDULE_ENTRY = EntryPoint(
    "process_scheduled_call", "process_scheduled_call(influxdb3_local, call_time, args=None)"
)
_REQUEST_ENTRY = EntryPoint(
    "process_request",
    "process_request(influxdb3_local, query_parameters, request_headers, request_body, "
    "args=None)",
)
_ENTRY_POINTS = {
    TriggerKind.TABLE: _WAL_ENTRY,
    TriggerKind.ALL_TABLES: _WAL_ENTRY,
    TriggerKind.CRON: _SCHEDULE_ENTRY,
    TriggerKind.EVERY: _SCHEDULE_ENTRY,
    TriggerKind.REQUEST: _REQUEST_ENTRY,
}


def entry_point(kind: TriggerKind | str) -> EntryPoint:
    """The plugin function a trigger of `kind` calls.

    Args:
        kind: a `TriggerKind` or its value, e.g. `"cron"`.

    Returns:
        `process_writes` for WAL kinds, `process_scheduled_call` for schedules,
        `process_request` for `request`.

    Raises:
        TriggerSpecError: `kind` is not a trigger kind.
    """
    return _ENTRY_POINTS[_coerce_kind(kind)]
