"""Splitting payloads into lines and scanning one line, as InfluxDB 3's parser does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lp_quick import parse_common
from engine.lp_scan import LineFault, content_start, scan_line, split_lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\n", [(1, "a"), (2, "b"), (3, "")]),
        ('m s="x\ny" 1\nn v=1', [(1, 'm s="x\ny" 1'), (3, "n v=1")]),
        ("m,t=a\\\nb v=1\nn", [(1, "m,t=a\\\nb v=1"), (3, "n")]),
        ("m,t=a\\\\\nn", [(1, "m,t=a\\\\"), (2, "n")]),
        ('m,t="x\nn v=1', [(1, 'm,t="x'), (2, "n v=1")]),
        ('m s=\\"x\nn', [(1, 'm s=\\"x'), (2, "n")]),
        ('m a,b="p=q"\nn v=1 1\n', [(1, 'm a,b="p=q"\nn v=1 1\n')]),
        ("", [(1, "")]),
    ],
    ids=["plain", "quoted-newline", "escaped-newline", "escaped-backslash-then-newline",
         "quote-in-tag-does-not-quote", "escaped-quote", "raw-comma-in-key-quirk", "empty"],
)
def test_lines_split_on_unquoted_unescaped_newlines(text: str,
                                                    expected: list[tuple[int, str]]) -> None:
    assert list(split_lines(text)) == expected


@pytest.mark.parametrize(
    ("line", "start"),
    [("m v=1", 0), ("  \tm v=1", 3), ("# note", 6), ("   ", 3), ("#a\nm v=1", 3), ("", 0)],
    ids=["plain", "indented", "comment", "blank", "comment-then-line", "empty"],
)
def test_content_starts_after_blanks_and_comments(line: str, start: int) -> None:
    assert content_start(line) == start


_NAMES = st.sampled_from(["m", "cpu", "a\\ b", "x\\,y", "k\\=v", "é", "t", "time", "__chunk_order",
                         "a,b", "q\"", "\\\\", "n\\", "\x01", "_u", "C:\\d"])
_VALUES = st.sampled_from(["1", "-2", "1.5", "1e3", "-1.5E-3", "5i", "-5i", "7u", "-7u", '"s"',
                          '"a\\"b"', '"x y,z=1"', '""', "t", "TRUE", "False", ".5", "1.", "+1",
                          "1e400", "9223372036854775808i", "tRUE", '"open'])
_JUNK = st.sampled_from([",", "=", " ", "  ", "\t", "\\", '"', "\r", "\n", "x", "#"])


@st.composite
def mostly_valid_lines(draw: st.DrawFn) -> str:
    """Lines built from valid parts, some of them bad, with an occasional stray character."""
    line = draw(_NAMES)
    for _ in range(draw(st.integers(0, 3))):
        line += f",{draw(_NAMES)}={draw(_NAMES)}"
    line += " " * draw(st.integers(1, 2))
    line += ",".join(f"{draw(_NAMES)}={draw(_VALUES)}" for _ in range(draw(st.integers(1, 3))))
    if draw(st.booleans()):
        line += f" {draw(st.sampled_from(['0', '-17', '1700000000000000000', '1.5', 'x']))}"
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(_JUNK) + line[at:]
    return line


@settings(max_examples=300, deadline=None)
@given(mostly_valid_lines())
def test_the_regex_path_agrees_with_the_scanner(line: str) -> None:
    """parse_common only ever returns what the step-by-step scanner returns."""
    start = content_start(line)
    if start == len(line):
        return
    common = parse_common(line, start)
    try:
        scanned = scan_line(line, start)
    except LineFault:
        assert common is None
        return
    assert common is None or common == scanned


@pytest.mark.parametrize(
    "line",
    ["m v=1i", "m,h=a s=\"x\",b=t,f=-1.5e3,u=5u 17", "m\\ x,k\\=y=v\\,w f\\ g=1 -5"],
    ids=["int", "mixed", "escapes"],
)
def test_the_regex_path_takes_well_formed_lines(line: str) -> None:
    assert parse_common(line, 0) == scan_line(line, 0)


def reference_split(text: str) -> list[str]:
    """InfluxDB 3's `split_lines`, character by character, as the oracle for the fast version."""
    lines, current = [], []
    quoted = fields = escaped = False
    equals = commas = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == " ":
            fields = True
        elif fields and char == "=" and not quoted:
            equals += 1
        elif fields and char == "," and not quoted:
            commas += 1
        elif fields and char == '"' and equals > commas:
            quoted = not quoted
        elif char == "\n" and not quoted:
            lines.append("".join(current))
            current, quoted, fields, equals, commas = [], False, False, 0, 0
            continue
        current.append(char)
    lines.append("".join(current))
    return lines


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list('ab =,"\\\n#')), max_size=40))
def test_line_splitting_matches_influxdb3_character_by_character(text: str) -> None:
    assert [line for _, line in split_lines(text)] == reference_split(text)
