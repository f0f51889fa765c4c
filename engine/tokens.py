"""API tokens: generation, SHA-256 hashing, constant-time checks and permissions.

Only the hash of a token is ever stored (in the catalog's token records); the token itself is
shown once, when it is created.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .clock import Clock, SystemClock, now_ns
from .errors import InvalidTokenPermission
from .names import validate_database_name

TOKEN_PREFIX = "apiv3_"
ALL_DATABASES = "*"
_TOKEN_BYTES = 48


class Permission(enum.StrEnum):
    """What a token may do: everything, or read or write named databases."""

    ADMIN = "admin"
    DB_READ = "db:read"
    DB_WRITE = "db:write"

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Read `admin`, `db:read`/`read` or `db:write`/`write` (any case).

        Raises:
            InvalidTokenPermission: Anything else.
        """
        key = text.strip().lower()
        key = {"read": "db:read", "write": "db:write"}.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise InvalidTokenPermission(text) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenRecord:
    """A stored token: its hash and what it allows, never the token itself.

    Attributes:
        token_id: Short public identifier (safe to log).
        name: Human-readable label.
        token_hash: Hex SHA-256 of the token.
        permissions: What the token may do.
        databases: Databases the `db:*` permissions cover (`*` for all); empty for admin tokens.
        created_ns: Creation time, nanoseconds since the epoch.
    """

    token_id: str
    name: str
    token_hash: str
    permissions: tuple[Permission, ...]
    databases: tuple[str, ...] = ()
    created_ns: int = 0

    @property
    def is_admin(self) -> bool:
        """Whether the token may do everything."""
        return Permission.ADMIN in self.permissions

    def allows(self, permission: Permission, db: str | None = None) -> bool:
        """Whether the token grants `permission` (on `db`, for the `db:*` permissions)."""
        if self.is_admin:
            return True
        if permission not in self.permissions or db is None:
            return False
        return db in self.databases or ALL_DATABASES in self.databases

    def to_dict(self) -> dict[str, Any]:
        """The record as the catalog stores it (JSON values)."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "token_hash": self.token_hash,
            "permissions": [str(p) for p in self.permissions],
            "databases": list(self.databases),
            "created_ns": self.created_ns,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenRecord:
        """Rebuild a record from `to_dict()` output."""
        return cls(
            token_id=str(data["token_id"]),
            name=str(data["name"]),
            token_hash=str(data["token_hash"]),
            permissions=tuple(Permission.parse(p) for p in data["permissions"]),
            databases=tuple(str(db) for db in data.get("databases", ())),
            created_ns=int(data.get("created_ns", 0)),
        )


def generate_token() -> str:
    """A new random token (`apiv3_` and 64 URL-safe characters from `secrets`)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def verify_token(token: str, record: TokenRecord) -> bool:
    """Whether `token` is the token `record` was made from, compared in constant time."""
    return hmac.compare_digest(hash_token(token), record.token_hash)


class TokenCatalog(Protocol):
    """Where token records are kept (the engine's `Catalog`)."""

    def tokens(self) -> list[dict[str, Any]]: ...

    def set_tokens(self, records: list[Mapping[str, Any]]) -> None: ...


class TokenStore:
    """Creates, finds and revokes tokens over a catalog; thread-safe."""

    def __init__(self, catalog: TokenCatalog, *, clock: Clock | None = None) -> None:
        self._catalog = catalog
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._by_hash: dict[str, TokenRecord] = {}
        self._reload()

    def records(self) -> list[TokenRecord]:
        """Every stored token record, oldest first."""
        return [TokenRecord.from_dict(data) for data in self._catalog.tokens()]

    def has_tokens(self) -> bool:
        """Whether any token exists."""
        return bool(self._catalog.tokens())

    def create_admin_token(self, name: str = "_admin") -> tuple[str, TokenRecord]:
        """Create an admin token; returns the token (shown only now) and its record."""
        return self._create(name, (Permission.ADMIN,), ())

    def create_database_token(
        self, databases: Iterable[str], permissions: Iterable[Permission | str], *, name: str = ""
    ) -> tuple[str, TokenRecord]:
        """Create a token that may read and/or write the given databases (`*` for all).

        Raises:
            InvalidTokenPermission: A permission is unknown, is `admin`, or none is given.
            InvalidName: A database name breaks the naming rules.
        """
        perms = tuple(dict.fromkeys(Permission.parse(str(p)) for p in permissions))
        if not perms or Permission.ADMIN in perms:
            raise InvalidTokenPermission(",".join(perms) or "(none)")
        dbs = tuple(dict.fromkeys(databases))
        for db in dbs:
            if db != ALL_DATABASES:
                validate_database_name(db)
        if not dbs:
            raise InvalidTokenPermission("db permission without a database")
        label = name or f"{'+'.join(dbs)}:{'+'.join(p.split(':')[1] for p in perms)}"
        return self._create(label, perms, dbs)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The record of a token, or None when the token is unknown."""
        digest = hash_token(token)
        record = self._by_hash.get(digest)
        if record is None:
            # Another store over the same catalog may have added it since we last looked.
            record = self._reload().get(digest)
        if record is not None and hmac.compare_digest(digest, record.token_hash):
            return record
        return None

    def revoke(self, token_id: str) -> bool:
        """Delete a token by its id; True when one was deleted."""
        with self._lock:
            records = self.records()
            kept = [r for r in records if r.token_id != token_id]
            removed = len(kept) != len(records)
            self._catalog.set_tokens([r.to_dict() for r in kept])
            self._by_hash = {r.token_hash: r for r in kept}
            return removed

    def _create(
        self, name: str, permissions: tuple[Permission, ...], databases: tuple[str, ...]
    ) -> tuple[str, TokenRecord]:
        token = generate_token()
        record = TokenRecord(
            token_id=secrets.token_hex(6),
            name=name,
            token_hash=hash_token(token),
            permissions=permissions,
            databases=databases,
            created_ns=now_ns(self._clock),
        )
        with self._lock:
            existing = self.records()
            self._catalog.set_tokens([r.to_dict() for r in [*existing, record]])
            self._by_hash = {r.token_hash: r for r in [*existing, record]}
        return token, record

    def _reload(self) -> dict[str, TokenRecord]:
        with self._lock:
            self._by_hash = {r.token_hash: r for r in self.records()}
            return self._by_hash
