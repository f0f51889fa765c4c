"""`POST /api/v3/configure/token`: create a token on a running server (admin only)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import InvalidRequest
from ..tokens import TokenRecord, TokenStore
from .auth import require_admin
from .bodies import optional_bool, optional_str
from .context import EdgeContext, in_thread
from .errors import error_response

TOKEN_PATH = "/api/v3/configure/token"


class TokenRoutes:
    """Token creation; the token is in the answer and nowhere else afterwards."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        return [Route(TOKEN_PATH, self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        """Create an admin token (`{"admin": true}`) or a database token; 201 with the token."""
        store = self.ctx.tokens
        if store is None:
            return error_response(405, "endpoint disabled, started without auth")
        require_admin(request)
        body = await self.ctx.json(request)
        create = _creation(store, body)
        token, record = await in_thread(create, pool=self.ctx.engine_threads)
        return JSONResponse({"token": token, **token_fields(record)}, status_code=201)


def _creation(store: TokenStore, body: dict[str, Any]) -> Callable[[], tuple[str, TokenRecord]]:
    name = optional_str(body, "name") or ""
    if optional_bool(body, "admin", False):
        return functools.partial(store.create_admin_token, name or "_admin")
    return functools.partial(store.create_database_token, _strings(body, "databases"),
                             _strings(body, "permissions"), name=name)


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"field {field!r} must be a non-empty list of strings "
                             "(or send \"admin\": true)")
    return value


def token_fields(record: TokenRecord) -> dict[str, Any]:
    """What may be shown about a token: everything but its hash."""
    return {"token_id": record.token_id, "name": record.name,
            "permissions": [str(p) for p in record.permissions],
            "databases": list(record.databases)}
