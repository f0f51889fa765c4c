"""Specification of engine.tokens: generation, hashing, verification, permissions, storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.clock import ManualClock
from engine.errors import InvalidName, InvalidTokenPermission
from engine.tokens import (
    TOKEN_PREFIX,
    Permission,
    TokenRecord,
    TokenStore,
    generate_token,
    hash_token,
    verify_token,
)


def test_generated_tokens_are_prefixed_long_and_unique() -> None:
    tokens = {generate_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert len(token) == len(TOKEN_PREFIX) + 64


def test_hash_is_hex_sha256() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()


def test_verify_accepts_only_the_original_token() -> None:
    token = generate_token()
    record = TokenRecord(token_id="x", name="n", token_hash=hash_token(token),
                         permissions=(Permission.ADMIN,))
    assert verify_token(token, record)
    assert not verify_token(token + "x", record)
    assert not verify_token("", record)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admin", Permission.ADMIN),
        ("ADMIN", Permission.ADMIN),
        ("db:read", Permission.DB_READ),
        ("read", Permission.DB_READ),
        (" Write ", Permission.DB_WRITE),
        ("db:write", Permission.DB_WRITE),
    ],
    ids=["admin", "admin-upper", "db-read", "read-short", "write-short-spaces", "db-write"],
)
def test_permission_parse(text: str, expected: Permission) -> None:
    assert Permission.parse(text) is expected


@pytest.mark.parametrize("text", ["", "root", "db:delete", "db:"], ids=["empty", "root", "delete",
                                                                        "db-colon"])
def test_permission_parse_rejects_unknown(text: str) -> None:
    with pytest.raises(InvalidTokenPermission, match="expected 'admin', 'db:read' or 'db:write'"):
        Permission.parse(text)


READER = TokenRecord(token_id="r", name="r", token_hash="h", permissions=(Permission.DB_READ,),
                     databases=("a",))
WRITER_ALL = TokenRecord(token_id="w", name="w", token_hash="h",
                         permissions=(Permission.DB_WRITE,), databases=("*",))
ADMIN = TokenRecord(token_id="a", name="a", token_hash="h", permissions=(Permission.ADMIN,))


@pytest.mark.parametrize(
    ("record", "permission", "db", "allowed"),
    [
        (READER, Permission.DB_READ, "a", True),
        (READER, Permission.DB_READ, "b", False),
        (READER, Permission.DB_WRITE, "a", False),
        (READER, Permission.ADMIN, None, False),
        (READER, Permission.DB_READ, None, False),
        (WRITER_ALL, Permission.DB_WRITE, "anything", True),
        (WRITER_ALL, Permission.DB_READ, "anything", False),
        (ADMIN, Permission.ADMIN, None, True),
        (ADMIN, Permission.DB_WRITE, "x", True),
    ],
    ids=["read-own", "read-other", "read-cannot-write", "read-not-admin", "read-no-db",
         "write-star", "write-cannot-read", "admin", "admin-writes"],
)
def test_record_allows(record: TokenRecord, permission: Permission, db: str | None,
                       allowed: bool) -> None:
    assert record.allows(permission, db) is allowed


def test_record_round_trips_through_dict() -> None:
    assert TokenRecord.from_dict(READER.to_dict()) == READER


def test_store_creates_admin_token_and_authenticates_it() -> None:
    clock = ManualClock()
    store = TokenStore(Catalog(), clock=clock)
    assert not store.has_tokens()
    token, record = store.create_admin_token()
    assert store.has_tokens()
    assert record.is_admin
    assert record.name == "_admin"
    assert record.created_ns > 0
    assert store.authenticate(token) == record
    assert store.authenticate(generate_token()) is None
    assert store.authenticate("") is None


def test_store_keeps_only_hashes_on_disk(tmp_path: Path) -> None:
    store = TokenStore(Catalog(tmp_path))
    token, record = store.create_database_token(["db1"], ["read", "write"])
    text = (tmp_path / "catalog.json").read_text()
    assert token not in text
    assert token[len(TOKEN_PREFIX):] not in text
    assert record.token_hash in text
    reopened = TokenStore(Catalog(tmp_path))
    assert reopened.authenticate(token) == record
    assert record.permissions == (Permission.DB_READ, Permission.DB_WRITE)
    assert record.databases == ("db1",)


def test_store_sees_tokens_added_by_another_store_on_the_same_catalog() -> None:
    catalog = Catalog()
    first, second = TokenStore(catalog), TokenStore(catalog)
    token, record = first.create_admin_token()
    assert second.authenticate(token) == record


@pytest.mark.parametrize(
    ("databases", "permissions", "error"),
    [
        (["db1"], [], InvalidTokenPermission),
        (["db1"], ["admin"], InvalidTokenPermission),
        (["db1"], ["delete"], InvalidTokenPermission),
        ([], ["read"], InvalidTokenPermission),
        (["bad name"], ["read"], InvalidName),
    ],
    ids=["no-permission", "admin-is-not-a-db-permission", "unknown", "no-database", "bad-db"],
)
def test_store_rejects_bad_database_tokens(databases: list[str], permissions: list[str],
                                           error: type[Exception]) -> None:
    store = TokenStore(Catalog())
    with pytest.raises(error):
        store.create_database_token(databases, permissions)
    assert not store.has_tokens()


def test_revoke_removes_one_token() -> None:
    store = TokenStore(Catalog())
    kept, _ = store.create_admin_token()
    gone, record = store.create_database_token(["*"], ["read"])
    assert store.revoke(record.token_id)
    assert not store.revoke(record.token_id)
    assert store.authenticate(gone) is None
    assert store.authenticate(kept) is not None
    assert [r.token_id for r in store.records()] != [record.token_id]
