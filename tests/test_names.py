"""Database and trigger naming rules."""

from __future__ import annotations

import pytest

from engine.errors import InvalidName
from engine.names import (
    DATABASE_NAME_MAX_LENGTH,
    TRIGGER_NAME_MAX_LENGTH,
    validate_database_name,
    validate_trigger_name,
)


@pytest.mark.parametrize(
    "name",
    ["mydb", "a", "0db", "My-DB_2", "x" * DATABASE_NAME_MAX_LENGTH],
    ids=["plain", "one-char", "digit-first", "mixed", "max-length"],
)
def test_good_database_names_are_returned_unchanged(name: str) -> None:
    assert validate_database_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "it is empty"),
        ("x" * (DATABASE_NAME_MAX_LENGTH + 1), "512 characters long"),
        ("_internal", "reserved"),
        ("_db", "starts with '_'"),
        ("-db", "starts with '-'"),
        ("bad db", r"character number 4 \(' '\)"),
        ("db/rp", r"character number 3 \('/'\)"),
        ("db.x", r"character number 3 \('.'\)"),
        ("dé", r"character number 2"),
        ("db\n", r"character number 3"),
        (None, "expected a string, got NoneType"),
        (7, "expected a string, got int"),
    ],
    ids=["empty", "too-long", "internal", "underscore-first", "dash-first", "space", "slash",
         "dot", "non-ascii", "newline", "none", "int"],
)
def test_bad_database_names_are_refused_with_the_rule(name: object, fragment: str) -> None:
    with pytest.raises(InvalidName, match=fragment) as caught:
        validate_database_name(name)
    assert caught.value.kind == "database"
    if name != "_internal":
        assert "ASCII letter or digit" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    ["t1", "my.trigger", "T-1_x", "9", "x" * TRIGGER_NAME_MAX_LENGTH],
    ids=["plain", "dot", "mixed", "digit", "max-length"],
)
def test_good_trigger_names_are_returned_unchanged(name: str) -> None:
    assert validate_trigger_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "it is empty"),
        ("x" * (TRIGGER_NAME_MAX_LENGTH + 1), "256 characters long"),
        (".hidden", "starts with '.'"),
        ("..", "starts with '.'"),
        ("a/b", r"character number 2 \('/'\)"),
        ("a b", r"character number 2 \(' '\)"),
        ("a?b", r"character number 2 \('\?'\)"),
        (b"t1", "expected a string, got bytes"),
    ],
    ids=["empty", "too-long", "dot-first", "dotdot", "slash", "space", "query-char", "bytes"],
)
def test_bad_trigger_names_are_refused_with_the_rule(name: object, fragment: str) -> None:
    with pytest.raises(InvalidName, match=fragment) as caught:
        validate_trigger_name(name)
    assert caught.value.kind == "trigger"
    assert "a trigger name is 1 to 255 characters" in str(caught.value)


def test_invalid_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        validate_database_name("no way")
