"""Formats a point as one line of line protocol that InfluxDB 3 reads back unchanged."""

from __future__ import annotations

import math
import re

from .errors import UnrepresentablePoint
from .lp_model import (
    I64_MAX,
    I64_MIN,
    RESERVED_NAMES,
    STRING_LIMIT_BYTES,
    U64_MAX,
    FieldType,
    FieldValue,
    Point,
)

# A backslash must be doubled only where InfluxDB 3 would read it as an escape: before a
# character of the escape set. Elsewhere it is kept as written, as the Go encoder does.
_MEASUREMENT_SPECIAL = re.compile(r"\\(?=[\\, ])|[, ]")
_KEY_SPECIAL = re.compile(r"\\(?=[\\,= ])|[,= ]")
_STRING_SPECIAL = re.compile(r'[\\"]')
_UNWRITABLE = re.compile(r"[\t\n]")
# InfluxDB 3 refuses control characters in keys (and we do in measurements too).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def format_point(point: Point) -> str:
    """One line of line protocol for `point`, without a trailing newline.

    Escapes as InfluxDB 3 expects, so `parse(format_point(p))` gives `p` back. Floats use the
    shortest text that reads back exactly (`42`, `6.632243e+06`), as the Go encoder does.

    Raises:
        UnrepresentablePoint: the point breaks a rule the parser enforces (an empty name, a
            name ending in a backslash or holding a tab or newline, a reserved or repeated
            key, a value out of range, a non-finite float, a string over 64 KiB).
    """
    seen: set[str] = set()
    text = _series(point, seen) + " " + _field_set(point, seen)
    if point.time is None:
        return text
    if not I64_MIN <= point.time <= I64_MAX:
        raise UnrepresentablePoint(f"time {point.time} is out of the int64 range")
    return f"{text} {point.time}"


def _series(point: Point, seen: set[str]) -> str:
    measurement = point.measurement
    if measurement.startswith("#") or _CONTROL.search(measurement):
        raise UnrepresentablePoint(
            f"measurement {measurement!r} would not parse (it starts with '#' or holds a "
            "control character)"
        )
    parts = [_name(measurement, "measurement", _MEASUREMENT_SPECIAL)]
    for key, value in point.tags:
        _check_key(key, "tag key", seen)
        parts.append(
            f",{_name(key, 'tag key', _KEY_SPECIAL)}="
            f"{_name(value, f'value of tag {key!r}', _KEY_SPECIAL)}"
        )
    return "".join(parts)


def _field_set(point: Point, seen: set[str]) -> str:
    if not point.fields:
        raise UnrepresentablePoint("a point needs at least one field")
    fields = []
    for name, kind, value in point.fields:
        _check_key(name, "field key", seen)
        fields.append(f"{_name(name, 'field key', _KEY_SPECIAL)}={_value(name, kind, value)}")
    return ",".join(fields)


def format_float(value: float) -> str:
    """The shortest round-tripping text for a finite float, in Go's `%g` layout."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    rest = digits[exponent + 1 :]
    return f"{sign}{whole}.{rest}" if rest else f"{sign}{whole}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Significant digits of repr(value) (the shortest exact form) and its decimal exponent."""
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    exponent += len(whole) - 1 - leading_zeros
    return digits.rstrip("0") or "0", exponent


def _value(name: str, kind: FieldType, value: FieldValue) -> str:
    if kind is FieldType.FLOAT64:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnrepresentablePoint(f"field {name!r} is float64 but holds {value!r}")
        if not math.isfinite(value):
            raise UnrepresentablePoint(
                f"field {name!r} is {value}; line protocol has no NaN or infinity"
            )
        return format_float(float(value))
    if kind is FieldType.STRING:
        return _string(name, value)
    if kind is FieldType.BOOL:
        if not isinstance(value, bool):
            raise UnrepresentablePoint(f"field {name!r} is bool but holds {value!r}")
        return "true" if value else "false"
    return _integer(name, kind, value)


def _integer(name: str, kind: FieldType, value: FieldValue) -> str:
    low, high, suffix = (I64_MIN, I64_MAX, "i") if kind is FieldType.INT64 else (0, U64_MAX, "u")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnrepresentablePoint(f"field {name!r} is {kind.value} but holds {value!r}")
    return f"{value}{suffix}"


def _string(name: str, value: FieldValue) -> str:
    if not isinstance(value, str):
        raise UnrepresentablePoint(f"field {name!r} is string but holds {value!r}")
    if len(value.encode()) > STRING_LIMIT_BYTES:
        raise UnrepresentablePoint(f"string value of field {name!r} is longer than 64 KiB")
    return '"' + _STRING_SPECIAL.sub(r"\\\g<0>", value) + '"'


def _name(text: str, what: str, special: re.Pattern[str]) -> str:
    if not text:
        raise UnrepresentablePoint(f"{what} is empty")
    if text.endswith("\\") or _UNWRITABLE.search(text):
        raise UnrepresentablePoint(
            f"{what} {text!r} ends with a backslash or holds a tab or "
            "newline, which line protocol cannot carry"
        )
    if len(text.encode()) > STRING_LIMIT_BYTES:
        raise UnrepresentablePoint(f"{what} is longer than 64 KiB")
    return special.sub(r"\\\g<0>", text)


def _check_key(key: str, what: str, seen: set[str]) -> None:
    if _CONTROL.search(key):
        raise UnrepresentablePoint(f"{what} {key!r} holds a control character")
    if key in RESERVED_NAMES:
        raise UnrepresentablePoint(f"{what} {key!r} is a reserved column name")
    if key in seen:
        raise UnrepresentablePoint(f"{key!r} appears more than once among the tags and fields")
    seen.add(key)
