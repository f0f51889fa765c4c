"""Naming rules for databases and triggers, checked before anything is stored."""

from __future__ import annotations

from .errors import InvalidName

INTERNAL_DATABASE = "_internal"
DATABASE_NAME_MAX_LENGTH = 511
TRIGGER_NAME_MAX_LENGTH = 255

_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_DATABASE_CHARS = _ASCII_ALNUM | frozenset("_-")
_TRIGGER_CHARS = _ASCII_ALNUM | frozenset("_-.")

DATABASE_NAME_RULE = (
    f"a database name is 1 to {DATABASE_NAME_MAX_LENGTH} characters: an ASCII letter or digit, "
    "then ASCII letters, digits, '_' or '-'"
)
TRIGGER_NAME_RULE = (
    f"a trigger name is 1 to {TRIGGER_NAME_MAX_LENGTH} characters: an ASCII letter or digit, "
    "then ASCII letters, digits, '_', '-' or '.'"
)


def validate_database_name(name: object) -> str:
    """Check a database name the way InfluxDB 3 does and return it.

    Args:
        name: The proposed name.

    Returns:
        The name, unchanged.

    Raises:
        InvalidName: The name is not a string, is reserved, or breaks `DATABASE_NAME_RULE`.
    """
    if name == INTERNAL_DATABASE:
        raise InvalidName("database", INTERNAL_DATABASE, "it is reserved for the engine itself")
    return _validate("database", name, _DATABASE_CHARS, DATABASE_NAME_MAX_LENGTH,
                     DATABASE_NAME_RULE)


def validate_trigger_name(name: object) -> str:
    """Check a trigger name and return it.

    The reference server accepts any string, even an empty one; ours must also be safe in URLs,
    query strings and file names, so it follows `TRIGGER_NAME_RULE`.

    Raises:
        InvalidName: The name is not a string or breaks `TRIGGER_NAME_RULE`.
    """
    return _validate("trigger", name, _TRIGGER_CHARS, TRIGGER_NAME_MAX_LENGTH, TRIGGER_NAME_RULE)


def _validate(kind: str, name: object, allowed: frozenset[str], max_length: int, rule: str) -> str:
    if not isinstance(name, str):
        raise InvalidName(kind, repr(name), f"expected a string, got {type(name).__name__}; {rule}")
    if not name:
        raise InvalidName(kind, name, f"it is empty; {rule}")
    if len(name) > max_length:
        raise InvalidName(kind, name[:40] + "...",
                          f"it is {len(name)} characters long; {rule}")
    if name[0] not in _ASCII_ALNUM:
        raise InvalidName(kind, name, f"it starts with {name[0]!r}; {rule}")
    for position, char in enumerate(name, start=1):
        if char not in allowed:
            raise InvalidName(
                kind, name, f"character number {position} ({char!r}) is not allowed; {rule}"
            )
    return name
