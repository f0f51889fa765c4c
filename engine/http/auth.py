"""HTTP authentication (Authorization header to token record) and permission checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import EngineError, MalformedAuthorization, NotAuthenticated, PermissionDenied
from ..tokens import Permission, TokenRecord, TokenStore
from .errors import engine_error_response

# Open to anyone: liveness probes, and the API description (it holds no data).
PUBLIC_PATHS = frozenset({"/health", "/ping", "/api/v3/openapi.json"})
ENGINE_PREFIX = "/api/v3/engine/"
_SCHEMES = frozenset({"bearer", "token", "basic"})
_STATE_KEY = "processing_engine_principal"

# Answers whether an anonymous caller may use the request trigger at this path.
PublicPathCheck = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's record, nobody, or anyone at all (auth switched off)."""

    record: TokenRecord | None = None
    unrestricted: bool = False

    def allows(self, permission: Permission, db: str | None = None) -> bool:
        """Whether the caller holds `permission` (on `db` for the database permissions)."""
        if self.unrestricted:
            return True
        return self.record is not None and self.record.allows(permission, db)


UNRESTRICTED = Principal(unrestricted=True)
ANONYMOUS = Principal()


def token_from_authorization(value: str) -> str:
    """The token in an `Authorization` header value: Bearer, Token or Basic (password part).

    Raises:
        MalformedAuthorization: The value is not `<scheme> <credentials>` with a known scheme.
    """
    parts = value.split(" ")
    if len(parts) != 2 or parts[0].lower() not in _SCHEMES or not parts[1]:
        raise MalformedAuthorization()
    scheme, credentials = parts[0].lower(), parts[1]
    if scheme != "basic":
        return credentials
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedAuthorization() from None
    _user, colon, password = decoded.partition(":")
    if not colon or not password:
        raise MalformedAuthorization()
    return password


def route_path(scope: Scope) -> str:
    """The path inside this app, without the prefix it is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def principal_of(request: Request) -> Principal:
    """The caller of a request, as the middleware found it (nobody when it did not run)."""
    return scope_principal(request.scope)


def scope_principal(scope: Scope) -> Principal:
    """The caller kept in a request scope by `remember_principal` (nobody when none was)."""
    found = scope.get("state", {}).get(_STATE_KEY)
    return found if isinstance(found, Principal) else ANONYMOUS


def require(request: Request, permission: Permission, db: str | None = None) -> None:
    """Refuse the request unless its caller holds `permission` (on `db`).

    Raises:
        PermissionDenied: The caller's token does not grant it.
    """
    if not principal_of(request).allows(permission, db):
        needed = "admin permission" if permission is Permission.ADMIN else (
            f"{permission} permission on database {db!r}"
        )
        raise PermissionDenied(needed)


def require_admin(request: Request) -> None:
    """Refuse the request unless its caller is an admin."""
    require(request, Permission.ADMIN)


class Authenticator:
    """Finds the caller of a request: every request needs a known token, except public paths.

    Raises from `authenticate`: NotAuthenticated (no or unknown token, answered 401) and
    MalformedAuthorization (answered 400).
    """

    def __init__(self, tokens: TokenStore | None, public_request_path: PublicPathCheck) -> None:
        self.tokens = tokens
        self.public_request_path = public_request_path

    async def authenticate(self, scope: Scope) -> Principal:
        """The caller of the request in `scope`."""
        if self.tokens is None:
            return UNRESTRICTED
        path = route_path(scope)
        if path in PUBLIC_PATHS:
            return ANONYMOUS
        try:
            return self._principal_from_token(scope)
        except EngineError:
            # A public request trigger ignores credentials meant for someone else (webhooks).
            if path.startswith(ENGINE_PREFIX) and await self.public_request_path(
                path[len(ENGINE_PREFIX) :]
            ):
                return ANONYMOUS
            raise

    def _principal_from_token(self, scope: Scope) -> Principal:
        assert self.tokens is not None
        token = _token_of(scope)
        record = None if token is None else self.tokens.authenticate(token)
        if record is None:
            raise NotAuthenticated()
        return Principal(record=record)


def remember_principal(scope: Scope, principal: Principal) -> None:
    """Keep the caller in the request scope, where `principal_of` and `require` find it."""
    scope.setdefault("state", {})[_STATE_KEY] = principal


class AuthMiddleware:
    """ASGI middleware running the `Authenticator` before routing.

    Success stores the caller's `Principal` in the request scope for `require`; failure answers
    401 (no or unknown token) or 400 (malformed header) with a JSON error.
    """

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(scope)
        except EngineError as exc:
            await engine_error_response(exc)(scope, receive, send)
            return
        remember_principal(scope, principal)
        await self.app(scope, receive, send)


def _token_of(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return token_from_authorization(value.decode("latin-1"))
    # v1 clients (and Telegraf's v1 output) may pass the token as the `p` query parameter.
    if route_path(scope) in ("/write", "/query"):
        return _query_token(scope.get("query_string", b""))
    return None


def _query_token(query_string: bytes) -> str | None:
    for key, value in parse_qsl(query_string.decode("latin-1")):
        if key == "p" and value:
            return value
    return None
