"""The general line-protocol scanner: splits a payload into lines and parses one line exactly."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterator

from .lp_model import (
    I64_MAX,
    I64_MIN,
    RESERVED_NAMES,
    STRING_LIMIT_BYTES,
    U64_MAX,
    FieldType,
    FieldValue,
)
from .lp_quick import ScannedLine, parse_common

# Character classes follow InfluxDB 3's parser (influxdb_line_protocol): only space, tab and
# newline end a token; a backslash always takes the next character with it.


def _escaped_run(plain: str) -> re.Pattern[str]:
    """One or more characters of class `plain`, or escape pairs (unrolled for speed)."""
    return re.compile(rf"(?=[{plain}]|\\.)[{plain}]*(?:\\.[{plain}]*)*", re.S)


_MEASUREMENT = _escaped_run(r"^ \t\n\x00,\\")
_KEY = _escaped_run(r"^ \t\n=\\")
_TAG_VALUE = _escaped_run(r"^ \t\n,\\")
_SPACES = re.compile(r" +")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_SPLIT_TOKENS = re.compile(r'\\.|[ =,"]', re.S)
_UNTIL_SPACE = re.compile(r"[^ \\]*(?:\\.[^ \\]*)* ", re.S)
_PLAIN_KEY = r'(?:[^ ,="\\]|\\.)+'
_PLAIN_VALUE = r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|(?:[^ ,="\\]|\\.)*)'
_PLAIN_FIELDS = re.compile(
    rf' *{_PLAIN_KEY}={_PLAIN_VALUE}(?:,{_PLAIN_KEY}={_PLAIN_VALUE})*(?: [^"]*)?', re.S
)
_BOOL = re.compile(r"true|True|TRUE|t|T|false|False|FALSE|f|F")
_TIMESTAMP = re.compile(r"-?[0-9]+")
_TOKEN_END = re.compile(r"[ ,]|\Z")
_MEASUREMENT_ESCAPE = re.compile(r"\\([\\, ])")
_KEY_ESCAPE = re.compile(r"\\([\\,= ])")
_STRING_ESCAPE = re.compile(r'\\(["\\])')
_CARRIAGE_RETURN = "carriage return ('\\r') in the line; InfluxDB 3 ends lines with '\\n' only"
_TRUE_WORDS = frozenset({"true", "True", "TRUE", "t", "T"})
_BLANK = " \t\n"
_GROUP_1 = operator.itemgetter(1)
# InfluxDB 3's catalog rejects tag and field keys holding control characters (Rust is_control).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class LineFault(Exception):
    """Raised inside the scanner for a bad line; `column` is a 0-based index into the line."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def split_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) pairs; quoted newlines and escaped newlines stay inside.

    This follows InfluxDB 3's `split_lines`: a double quote toggles quoting only after the
    first space and while inside a field value (more `=` than `,` seen), and a backslash
    protects the character after it, newline included.
    """
    number = 1
    pending: list[str] = []
    state: _SplitState | None = None
    for piece in text.split("\n"):
        if state is None:
            if not _escapes_newline(piece) and ('"' not in piece or _quotes_close(piece)):
                yield number, piece
                number += 1
                continue
            state = _SplitState()
        pending.append(piece)
        if state.feed(piece):
            continue
        yield number, "\n".join(pending)
        number += len(pending)
        pending, state = [], None
    if pending:
        yield number, "\n".join(pending)


def _quotes_close(piece: str) -> bool:
    """True when the piece is a plain field set whose quoted strings all close (no state needed).

    Keys without raw `,` `=` `"` and unquoted values without `,` `=` `"` keep the `=` count one
    above the `,` count exactly inside values, so every string's quotes toggle in pairs.
    """
    head = _UNTIL_SPACE.match(piece)
    return head is None or _PLAIN_FIELDS.fullmatch(piece, head.end()) is not None


def _escapes_newline(piece: str) -> bool:
    # Backslashes pair up from the left, so an odd trailing run leaves one to take the newline.
    return (len(piece) - len(piece.rstrip("\\"))) % 2 == 1


class _SplitState:
    """Quote state of the line being split (see `split_lines`)."""

    def __init__(self) -> None:
        self.quoted = False
        self.fields = False
        self.equals = 0
        self.commas = 0

    def feed(self, piece: str) -> bool:
        """Consume one newline-free piece; True when the newline after it does not end the line."""
        for match in _SPLIT_TOKENS.finditer(piece):
            char = match.group()
            if char == " ":
                self.fields = True
            elif self.fields and len(char) == 1:
                self._field_char(char)
        return self.quoted or _escapes_newline(piece)

    def _field_char(self, char: str) -> None:
        if char == "=" and not self.quoted:
            self.equals += 1
        elif char == "," and not self.quoted:
            self.commas += 1
        elif char == '"' and self.equals > self.commas:
            self.quoted = not self.quoted


def content_start(line: str) -> int:
    """Index of the first character to parse, past blanks and comment lines; len(line) if none."""
    pos = 0
    while True:
        while pos < len(line) and line[pos] in _BLANK:
            pos += 1
        if pos < len(line) and line[pos] == "#":
            newline = line.find("\n", pos)
            pos = len(line) if newline < 0 else newline
            continue
        return pos


def parse_line(line: str, start: int) -> ScannedLine:
    """Parse one line from index `start` (see `content_start`).

    Raises:
        LineFault: the line is not valid InfluxDB 3 line protocol or breaks a naming rule.
    """
    common = parse_common(line, start)
    return common if common is not None else scan_line(line, start)


def scan_line(line: str, start: int) -> ScannedLine:
    """`parse_line` step by step: slower, but it names the problem of every bad line.

    Raises:
        LineFault: the line is not valid InfluxDB 3 line protocol or breaks a naming rule.
    """
    measurement, pos = _measurement(line, start)
    tags: list[tuple[str, str]] = []
    if pos < len(line) and line[pos] == ",":
        pos = _tag_set(line, pos, tags)
    spaces = _SPACES.match(line, pos)
    if spaces is None:
        raise LineFault(pos, _expected_space(line, pos))
    fields: list[tuple[str, FieldType, FieldValue]] = []
    pos = _field_set(line, spaces.end(), fields, {key for key, _ in tags})
    timestamp, ts_column, pos = _timestamp(line, pos)
    if pos < len(line):
        raise LineFault(
            pos, f"unexpected text after the {_last_part(timestamp)}: {_excerpt(line, pos)}"
        )
    return ScannedLine(measurement, tags, fields, timestamp, ts_column)


def _measurement(line: str, pos: int) -> tuple[str, int]:
    match = _MEASUREMENT.match(line, pos)
    if match is None:
        if line.startswith("\\", pos):
            raise LineFault(pos, "measurement name may not end with a backslash")
        raise LineFault(pos, f"expected a measurement name, found {_excerpt(line, pos)}")
    raw = match.group()
    name = _MEASUREMENT_ESCAPE.sub(_GROUP_1, raw) if "\\" in raw else raw
    _check_name("measurement name", name, line, pos, match.end())
    control = _CONTROL.search(name)
    if control is not None:
        raise LineFault(
            pos, f"measurement name {name!r} contains the control character {control.group()!r}"
        )
    return name, match.end()


def _tag_set(line: str, pos: int, tags: list[tuple[str, str]]) -> int:
    seen: set[str] = set()
    while pos < len(line) and line[pos] == ",":
        pos += 1
        key_match = _KEY.match(line, pos)
        if key_match is None:
            raise LineFault(pos, f"expected a tag key after ',', found {_excerpt(line, pos)}")
        key = _unescape_key(key_match.group())
        _check_name("tag key", key, line, pos, key_match.end())
        if key in seen:
            raise LineFault(pos, f"duplicate tag key {key!r}")
        _check_reserved("tag key", key, pos)
        seen.add(key)
        pos = key_match.end()
        if not line.startswith("=", pos):
            raise LineFault(pos, f"tag key {key!r} must be followed by '=' and a value")
        value_match = _TAG_VALUE.match(line, pos + 1)
        if value_match is None:
            raise LineFault(
                pos + 1,
                f"expected a value for tag {key!r} (tag values may not be "
                f"empty), found {_excerpt(line, pos + 1)}",
            )
        value = _unescape_key(value_match.group())
        _check_name(f"value of tag {key!r}", value, line, pos + 1, value_match.end())
        tags.append((key, value))
        pos = value_match.end()
    return pos


def _field_set(
    line: str, pos: int, fields: list[tuple[str, FieldType, FieldValue]], tag_keys: set[str]
) -> int:
    seen: set[str] = set()
    while True:
        key_match = _KEY.match(line, pos)
        if key_match is None:
            raise LineFault(
                pos,
                f"expected a field key, found {_excerpt(line, pos)} "
                "(a line needs at least one field)",
            )
        key = _unescape_key(key_match.group())
        _check_name("field key", key, line, pos, key_match.end())
        _check_field_key(key, pos, seen, tag_keys)
        seen.add(key)
        pos = key_match.end()
        if not line.startswith("=", pos):
            raise LineFault(pos, f"field key {key!r} must be followed by '=' and a value")
        kind, value, pos = _field_value(line, pos + 1, key)
        fields.append((key, kind, value))
        if not line.startswith(",", pos):
            return pos
        pos += 1


def _check_field_key(key: str, pos: int, seen: set[str], tag_keys: set[str]) -> None:
    if key in seen:
        raise LineFault(pos, f"multiple instances of field {key!r} in the line")
    if key in tag_keys:
        raise LineFault(pos, f"{key!r} is used as both a tag key and a field key")
    _check_reserved("field key", key, pos)


def _field_value(line: str, pos: int, key: str) -> tuple[FieldType, FieldValue, int]:
    char = line[pos] if pos < len(line) else ""
    if char == '"':
        return _string_value(line, pos, key)
    if char == "-" or char.isdigit():
        number = _NUMBER.match(line, pos)
        if number is not None:
            return _number_value(line, number, key)
    boolean = _BOOL.match(line, pos)
    if boolean is not None:
        _check_value_end(line, boolean.end(), pos, key)
        return FieldType.BOOL, boolean.group() in _TRUE_WORDS, boolean.end()
    raise LineFault(
        pos,
        f"invalid value for field {key!r}: {_token(line, pos)} (expected a "
        "number, an integer with i or u suffix, a quoted string or a boolean)",
    )


def _string_value(line: str, pos: int, key: str) -> tuple[FieldType, FieldValue, int]:
    match = _STRING.match(line, pos)
    if match is None:
        raise LineFault(pos, f"unterminated string value for field {key!r}")
    raw = match.group(1)
    value = _STRING_ESCAPE.sub(_GROUP_1, raw) if "\\" in raw else raw
    if len(value) > STRING_LIMIT_BYTES // 4 and len(value.encode()) > STRING_LIMIT_BYTES:
        raise LineFault(
            pos,
            f"string value of field {key!r} is longer than 64 KiB ({len(value.encode())} bytes)",
        )
    return FieldType.STRING, value, match.end()


def _number_value(line: str, match: re.Match[str], key: str) -> tuple[FieldType, FieldValue, int]:
    text, end = match.group(), match.end()
    is_integral = match.group(1) is None and match.group(2) is None
    suffix = line[end] if end < len(line) else ""
    value: int | float
    if is_integral and suffix == "i":
        kind, value, end = FieldType.INT64, int(text), end + 1
        if not I64_MIN <= value <= I64_MAX:
            raise LineFault(
                match.start(), f"integer value {text}i of field {key!r} is out of the int64 range"
            )
    elif is_integral and suffix == "u" and not text.startswith("-"):
        kind, value, end = FieldType.UINT64, int(text), end + 1
        if value > U64_MAX:
            raise LineFault(
                match.start(), f"unsigned value {text}u of field {key!r} is out of the uint64 range"
            )
    else:
        kind, value = FieldType.FLOAT64, float(text)
        if math.isinf(value):
            raise LineFault(match.start(), f"float value of field {key!r} is out of range")
    _check_value_end(line, end, match.start(), key)
    return kind, value, end


def _check_value_end(line: str, end: int, start: int, key: str) -> None:
    if end < len(line) and line[end] not in " ,":
        if line[end] == "\r":
            raise LineFault(end, _CARRIAGE_RETURN)
        raise LineFault(start, f"invalid value for field {key!r}: {_token(line, start)}")


def _timestamp(line: str, pos: int) -> tuple[int | None, int, int]:
    spaces = _SPACES.match(line, pos)
    if spaces is None:
        return None, pos, pos
    digits = _TIMESTAMP.match(line, spaces.end())
    if digits is None:
        if spaces.end() == len(line):
            raise LineFault(pos, "trailing whitespace after the field set (InfluxDB 3 rejects it)")
        raise LineFault(
            spaces.end(), f"invalid timestamp {_token(line, spaces.end())}: expected an integer"
        )
    value = int(digits.group())
    if not I64_MIN <= value <= I64_MAX:
        raise LineFault(spaces.end(), f"timestamp {digits.group()} is out of the int64 range")
    after = line[digits.end()] if digits.end() < len(line) else " "
    if after == "\r":
        raise LineFault(digits.end(), _CARRIAGE_RETURN)
    if after != " ":
        raise LineFault(
            spaces.end(), f"invalid timestamp {_token(line, spaces.end())}: expected an integer"
        )
    trailing = _SPACES.match(line, digits.end())
    return value, spaces.end(), digits.end() if trailing is None else trailing.end()


def _unescape_key(raw: str) -> str:
    return _KEY_ESCAPE.sub(_GROUP_1, raw) if "\\" in raw else raw


def _check_name(what: str, name: str, line: str, start: int, end: int) -> None:
    if name.endswith("\\") or line.startswith("\\", end):
        raise LineFault(start, f"{what} may not end with a backslash")
    if len(name) > STRING_LIMIT_BYTES // 4 and len(name.encode()) > STRING_LIMIT_BYTES:
        raise LineFault(start, f"{what} is longer than 64 KiB")


def _check_reserved(what: str, name: str, pos: int) -> None:
    control = _CONTROL.search(name)
    if control is not None:
        raise LineFault(pos, f"{what} {name!r} contains the control character {control.group()!r}")
    if name in RESERVED_NAMES:
        raise LineFault(pos, f"{what} {name!r} is a reserved column name")


def _expected_space(line: str, pos: int) -> str:
    if pos >= len(line):
        return "expected a space and a field set, found the end of the line"
    if line[pos] == "\t":
        return "expected a space before the field set, found a tab"
    return f"expected a space before the field set, found {_excerpt(line, pos)}"


def _last_part(timestamp: int | None) -> str:
    return "field set" if timestamp is None else "timestamp"


def _token(line: str, pos: int) -> str:
    end = _TOKEN_END.search(line, pos)
    stop = len(line) if end is None else end.start()
    return repr(line[pos:stop][:40])


def _excerpt(line: str, pos: int) -> str:
    if pos >= len(line):
        return "the end of the line"
    rest = line[pos:]
    return repr(rest if len(rest) <= 20 else rest[:20] + "...")
