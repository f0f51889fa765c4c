"""Cron expressions in the engine's dialect: validation, canonical text and next fire time.

The dialect (PRODUCT §5):

- 6 fields `SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK` (seconds first, as the seed), an
  optional 7th `YEAR` field (1970-2099), or a standard 5-field crontab (the second is 0).
- Each field is `*`, a number, a range `A-B`, a list `A,B-C`, or a step `*/N`, `A-B/N`, `A/N`
  (from A to the end of the field). Ranges must not run backwards (`50-10` is rejected).
- Day of week 0-6 with Sunday=0, 7 is also Sunday, names `SUN`-`SAT`; months 1-12 or
  `JAN`-`DEC` (names are case-insensitive). `SUN` at the end of a range means 7, so `FRI-SUN`
  works. `?` means "any" and is allowed only as the whole day-of-month or day-of-week field.
- Shorthands `@yearly` (`@annually`), `@monthly`, `@weekly` (Sunday 00:00), `@daily`
  (`@midnight`), `@hourly`.
- Day-of-month and day-of-week combine as in Vixie cron: when both are restricted a day matches
  if EITHER matches; a field that starts with `*` (including `*/N`) or is `?` does not count as
  restricted, and then both must match (so `0 0 0 1 * MON` fires on the 1st and on every Monday,
  while `0 0 0 1 * */2` fires on the 1st when it is a Sunday, Tuesday, Thursday or Saturday).
- Quartz's `L`, `W` and `#` are rejected, as are values outside a field's range.

Evaluation uses croniter (`second_at_beginning=True`) on an expression rebuilt from the validated
value sets, which sidesteps croniter's quirks (`5-5` read as `*`, and a year field more than a year
ahead raising `CroniterBadDateError`: years are handled here, one allowed year at a time).

Times are matched in UTC, or on the wall clock of a time zone when one is given. With a zone,
a matching wall time skipped by a daylight-saving jump fires at the instant of the jump (a daily
02:30 job runs at 03:00 on the spring-forward day), and a wall time that occurs twice fires only
at its first occurrence (a daily 01:30 job runs once on the fall-back day; an hourly job has no
fire during the repeated hour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import CroniterBadDateError, croniter

from .errors import InvalidCronExpression

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31,
                  11: 30, 12: 31}
_NUMBER = re.compile(r"[0-9]+")
_QUARTZ = re.compile(r"[0-9]*L|L-?[0-9]*|LW|[0-9]+W|.*#.*")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    wild_high: int  # where `*` and `A/N` end; day of week stops at 6 because 7 repeats Sunday
    names: dict[str, int] = field(default_factory=dict)
    any_allowed: bool = False

    @property
    def range_text(self) -> str:
        text = f"{self.low}-{self.high}"
        if self.name == "day-of-week":
            return text + " (0 and 7 are Sunday) or SUN-SAT"
        return text + (" or JAN-DEC" if self.names else "")


_SECOND = _Field("second", 0, 59, 59)
_MINUTE = _Field("minute", 0, 59, 59)
_HOUR = _Field("hour", 0, 23, 23)
_DAY = _Field("day-of-month", 1, 31, 31, any_allowed=True)
_MONTH = _Field("month", 1, 12, 12, {name: i + 1 for i, name in enumerate(_MONTHS)})
_WEEKDAY = _Field("day-of-week", 0, 7, 6, {name: i for i, name in enumerate(_DAYS)},
                  any_allowed=True)
_YEAR = _Field("year", 1970, 2099, 2099)
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY, _YEAR)

SHORTHANDS: dict[str, str] = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
"""Whole-expression shorthands and the 6-field expressions they stand for."""


class CronExpression:
    """A validated cron expression; equal when their canonical texts are equal.

    Args:
        expression: the cron text (see the module docstring for the dialect).

    Raises:
        InvalidCronExpression: the text breaks the dialect; the message names the field and range.
    """

    __slots__ = ("_croniter_text", "_day_or", "_text", "_years")

    def __init__(self, expression: str) -> None:
        self._text = " ".join(expression.split())
        fields = _split_fields(self._text)
        sets = [
            _parse_field(spec, text, self._text)
            for spec, text in zip(_FIELDS, fields, strict=False)
        ]
        self._day_or = _restricted(fields[3]) and _restricted(fields[5])
        if not self._day_or:
            _check_day_exists(sets[3], sets[4], fields, self._text)
        self._years = sets[6] if len(sets) == 7 and fields[6] != "*" else None
        self._croniter_text = _croniter_expression(sets[:6], self._day_or)

    @classmethod
    def parse(cls, expression: str) -> CronExpression:
        """Parse and validate `expression`; the same as calling the class."""
        return cls(expression)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"CronExpression({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronExpression):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash(self._text)

    @property
    def day_or(self) -> bool:
        """True when day-of-month and day-of-week are both restricted and combine with OR."""
        return self._day_or

    def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
        """The first fire time strictly after `dt`.

        Args:
            dt: an aware datetime, or a naive one taken as UTC.
            tz: match the expression on this zone's wall clock (None: UTC), with the
                daylight-saving rules in the module docstring.

        Returns:
            The fire time, timezone-aware UTC, or None when the expression never fires again
            (a year field in the past).
        """
        after = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        if tz is None:
            found = self._next_wall(after.replace(tzinfo=None))
            return None if found is None else found.replace(tzinfo=UTC)
        return self._next_in_zone(after, tz)

    def _next_in_zone(self, after: datetime, tz: tzinfo) -> datetime | None:
        wall = _start_wall(after, tz)
        while True:
            candidate = self._next_wall(wall)
            if candidate is None:
                return None
            instant = _resolve_wall(candidate, tz)
            # Only wall times already passed at their first occurrence land here.
            if instant > after:
                return instant
            wall = candidate

    def _next_wall(self, wall: datetime) -> datetime | None:
        """Next matching naive wall time strictly after `wall`, honouring the year field."""
        if self._years is None:
            return self._croniter_next(wall)
        for year in sorted(y for y in self._years if y >= wall.year):
            start = wall if year == wall.year else datetime(year, 1, 1) - timedelta(seconds=1)
            found = self._croniter_next(start)
            if found is not None and found.year == year:
                return found
        return None

    def _croniter_next(self, wall: datetime) -> datetime | None:
        try:
            found: datetime = croniter(
                self._croniter_text, wall, second_at_beginning=True, day_or=self._day_or
            ).get_next(datetime)
        except CroniterBadDateError:
            return None
        return found


def _restricted(text: str) -> bool:
    # Vixie cron's rule: a day field starting with `*` (even `*/2`) leaves the other in charge.
    return not (text.startswith("*") or text == "?")


def _split_fields(text: str) -> list[str]:
    if not text:
        raise InvalidCronExpression(text, "the expression is empty")
    if text.startswith("@"):
        six = SHORTHANDS.get(text.lower())
        if six is None:
            raise InvalidCronExpression(
                text, f"unknown shorthand {text!r} (accepted: {', '.join(SHORTHANDS)})"
            )
        return six.split(" ")
    fields = text.split(" ")
    if len(fields) == 5:
        return ["0", *fields]
    if len(fields) not in (6, 7):
        raise InvalidCronExpression(text, f"expected 5, 6 or 7 fields, got {len(fields)}")
    return fields


def _parse_field(spec: _Field, text: str, expression: str) -> frozenset[int]:
    if text == "?":
        if not spec.any_allowed:
            raise InvalidCronExpression(
                expression, f"'?' is only allowed in day-of-month and day-of-week, not {spec.name}"
            )
        return frozenset(range(spec.low, spec.wild_high + 1))
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(spec, item, expression))
    return frozenset(0 if v == 7 and spec is _WEEKDAY else v for v in values)


def _parse_item(spec: _Field, item: str, expression: str) -> range:
    base, slash, step_text = item.partition("/")
    if not base:
        raise InvalidCronExpression(expression, f"empty item {item!r} in the {spec.name} field")
    step = _parse_step(spec, step_text, expression) if slash else 1
    if base == "*":
        return range(spec.low, spec.wild_high + 1, step)
    first, dash, last = base.partition("-")
    if not first or (dash and not last):
        raise InvalidCronExpression(
            expression, f"the {spec.name} item {item!r} is missing a number"
        )
    low = _parse_value(spec, first, expression)
    if not dash:
        return range(low, (spec.wild_high if slash else low) + 1, step)
    high = _parse_value(spec, last, expression, range_end=True)
    if low > high:
        raise InvalidCronExpression(
            expression,
            f"the range {base} in the {spec.name} field runs backwards "
            f"(write it as two ranges, e.g. {first}-{spec.high},{spec.low}-{last})",
        )
    return range(low, high + 1, step)


def _parse_step(spec: _Field, text: str, expression: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) < 1:
        raise InvalidCronExpression(
            expression, f"the step {text!r} in the {spec.name} field must be a whole number >= 1"
        )
    return int(text)


def _parse_value(spec: _Field, token: str, expression: str, *, range_end: bool = False) -> int:
    if _NUMBER.fullmatch(token):
        value = int(token)
        if not spec.low <= value <= spec.high:
            raise InvalidCronExpression(
                expression,
                f"{spec.name} value {value} is out of range {spec.range_text}",
            )
        return value
    named = spec.names.get(token.upper())
    if named is not None:
        # SUN closing a range means 7, so FRI-SUN reads as Friday to Sunday.
        return 7 if range_end and spec is _WEEKDAY and named == 0 else named
    if token == "?":
        raise InvalidCronExpression(expression, f"'?' must be the whole {spec.name} field")
    if _QUARTZ.fullmatch(token.upper()):
        raise InvalidCronExpression(
            expression,
            f"{token!r} in the {spec.name} field uses Quartz's L, W or #, "
            "which are not part of this cron dialect",
        )
    raise InvalidCronExpression(
        expression, f"{token!r} is not a valid {spec.name} value (accepted: {spec.range_text})"
    )


def _check_day_exists(
    days: frozenset[int], months: frozenset[int], fields: list[str], expression: str
) -> None:
    if min(days) > max(_LONGEST_MONTH[month] for month in months):
        raise InvalidCronExpression(
            expression,
            f"the expression never fires: day-of-month {fields[3]} does not occur in "
            f"month {fields[4]}",
        )


def _croniter_expression(sets: list[frozenset[int]], day_or: bool) -> str:
    days, weekdays = sets[3], sets[5]
    if day_or and (len(days) == 31 or len(weekdays) == 7):
        # Either set alone already covers every day; croniter would read a full list as `*`
        # and switch to AND, so spell it as `*` for both.
        days = weekdays = frozenset()
    texts = []
    for spec, values in zip(_FIELDS, [*sets[:3], days, sets[4], weekdays], strict=False):
        full = not values or len(values) == spec.wild_high - spec.low + 1
        texts.append("*" if full else ",".join(str(v) for v in sorted(values)))
    return " ".join(texts)


def _start_wall(after: datetime, tz: tzinfo) -> datetime:
    """The wall time to search from; skips the repeated hour when `after` is inside its 2nd pass."""
    local = after.astimezone(tz)
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first >= after:
        return wall
    # `after` is the second occurrence of an ambiguous wall time: every wall time up to the end of
    # the repeated period already fired (at its first occurrence), so start at that end.
    offset_before = first.astimezone(tz).utcoffset() or timedelta(0)
    end_of_repeat = (_transition(tz, first, after) + offset_before).replace(tzinfo=None)
    return max(wall, end_of_repeat - timedelta(microseconds=1))


def _resolve_wall(wall: datetime, tz: tzinfo) -> datetime:
    """The UTC instant a matching wall time fires at (see the module docstring for DST gaps)."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return early
    first, second = min(early, late), max(early, late)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # ambiguous: the first occurrence
    return _transition(tz, first, second)  # skipped: the instant clocks jumped


def _transition(tz: tzinfo, before: datetime, after: datetime) -> datetime:
    """The first whole second in (before, after] whose UTC offset in `tz` equals `after`'s."""
    target = after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
