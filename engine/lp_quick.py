"""Whole-line regexes for the common well-formed line; anything unusual is left to the scanner.

`parse_common` accepts only lines it can fully vouch for and returns None otherwise, so the
careful scanner in `lp_scan` (which explains every error) decides all other lines.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from .lp_model import I64_MAX, I64_MIN, RESERVED_NAMES, U64_MAX, FieldType, FieldValue


@dataclass
class ScannedLine:
    """One good line, names unescaped, the timestamp as written (not yet scaled)."""

    measurement: str
    tags: list[tuple[str, str]]
    fields: list[tuple[str, FieldType, FieldValue]]
    timestamp: int | None
    timestamp_column: int


def _run(plain: str) -> str:
    """One or more characters of class `plain` or escape pairs, unrolled for speed."""
    return rf"(?=[{plain}]|\\.)[{plain}]*(?:\\.[{plain}]*)*"


_MEASUREMENT = _run(r"^ \t\n\x00,\\")
_KEY = _run(r"^ \t\n=\\")
_TAG_VALUE = _run(r"^ \t\n,\\")
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_FLOAT = r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_BOOL = r"true|True|TRUE|t|T|false|False|FALSE|f|F"
_FIELD = rf"{_KEY}=(?:{_STRING}|-?[0-9]+i|[0-9]+u|{_FLOAT}|{_BOOL})(?=[ ,]|\Z)"
_LINE = re.compile(
    rf"({_MEASUREMENT})((?:,{_KEY}={_TAG_VALUE})*) +({_FIELD}(?:,{_FIELD})*)"
    rf"(?: +(-?[0-9]+) *)?\Z",
    re.S,
)
_TAG_ITEM = re.compile(rf",({_KEY})=({_TAG_VALUE})", re.S)
# Groups: key, then exactly one of string, int64, uint64, float, bool.
_FIELD_ITEM = re.compile(
    rf'({_KEY})=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|(-?[0-9]+)i|([0-9]+)u|({_FLOAT})|({_BOOL}))'
    rf"(?:,|\Z)",
    re.S,
)
_MEASUREMENT_ESCAPE = re.compile(r"\\([\\, ])")
_KEY_ESCAPE = re.compile(r"\\([\\,= ])")
_STRING_ESCAPE = re.compile(r'\\(["\\])')
_GROUP_1 = operator.itemgetter(1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRUE_WORDS = frozenset({"true", "True", "TRUE", "t", "T"})
# Below this many characters no name or string can pass the 64 KiB limit (4 bytes a char).
_SHORT_LINE = 16_384


def parse_common(line: str, start: int) -> ScannedLine | None:
    """The parsed line when it is plainly valid, else None (the scanner must look)."""
    if len(line) - start > _SHORT_LINE:
        return None
    match = _LINE.match(line, start)
    if match is None:
        return None
    raw_measurement, tag_text, field_text, stamp = match.groups()
    tags = _tags(tag_text)
    fields = _fields(field_text)
    measurement = _unescape(_MEASUREMENT_ESCAPE, raw_measurement)
    if fields is None or not _names_ok(line, measurement, tags, fields):
        return None
    if stamp is None:
        return ScannedLine(measurement, tags, fields, None, len(line))
    timestamp = int(stamp)
    if not I64_MIN <= timestamp <= I64_MAX:
        return None
    return ScannedLine(measurement, tags, fields, timestamp, match.start(4))


def _tags(text: str) -> list[tuple[str, str]]:
    # _LINE matched, so the items follow each other exactly.
    return [
        (_unescape(_KEY_ESCAPE, key), _unescape(_KEY_ESCAPE, value))
        for key, value in _TAG_ITEM.findall(text)
    ]


def _fields(text: str) -> list[tuple[str, FieldType, FieldValue]] | None:
    fields: list[tuple[str, FieldType, FieldValue]] = []
    pos = 0
    while pos < len(text):
        item = _FIELD_ITEM.match(text, pos)
        field = None if item is None else _field(*item.groups())
        if item is None or field is None:
            return None
        fields.append(field)
        pos = item.end()
    return fields


def _field(
    key: str,
    string: str | None,
    int64: str | None,
    uint64: str | None,
    float64: str | None,
    boolean: str | None,
) -> tuple[str, FieldType, FieldValue] | None:
    name = _unescape(_KEY_ESCAPE, key)
    if string is not None:
        return name, FieldType.STRING, _unescape(_STRING_ESCAPE, string)
    if int64 is not None:
        value = int(int64)
        return (name, FieldType.INT64, value) if I64_MIN <= value <= I64_MAX else None
    if uint64 is not None:
        value = int(uint64)
        return (name, FieldType.UINT64, value) if value <= U64_MAX else None
    if float64 is not None:
        number = float(float64)
        return None if math.isinf(number) else (name, FieldType.FLOAT64, number)
    return name, FieldType.BOOL, boolean in _TRUE_WORDS


def _names_ok(
    line: str,
    measurement: str,
    tags: list[tuple[str, str]],
    fields: list[tuple[str, FieldType, FieldValue]],
) -> bool:
    keys = {key for key, _ in tags}
    keys.update(key for key, _, _ in fields)
    if len(keys) != len(tags) + len(fields) or not RESERVED_NAMES.isdisjoint(keys):
        return False
    if "\\" in line:
        names = [measurement, *keys, *(value for _, value in tags)]
        if any(name.endswith("\\") for name in names):
            return False
    # Control characters are allowed in tag and string values but not in names; let the
    # scanner sort out the rare line that has any.
    return _CONTROL.search(line) is None


def _unescape(pattern: re.Pattern[str], raw: str) -> str:
    return pattern.sub(_GROUP_1, raw) if "\\" in raw else raw
