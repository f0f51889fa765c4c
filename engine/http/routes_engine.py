"""`/api/v3/engine/{path}`: HTTP requests handed to request triggers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import PermissionDenied
from ..tokens import Permission
from .auth import ENGINE_PREFIX, principal_of
from .context import EdgeContext

_METHODS = ("GET", "POST")


class EngineRoutes:
    """Routes `GET|POST /api/v3/engine/{path}` to `Engine.handle_request`."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group (other methods are answered 405 by the router)."""
        return [Route(ENGINE_PREFIX + "{path:path}", self.handle, methods=list(_METHODS))]

    async def handle(self, request: Request) -> Response:
        """Run the request trigger for the path and send back what its plugin returned."""
        if request.method not in _METHODS:  # HEAD, which the router adds to GET
            raise HTTPException(405, headers={"Allow": ", ".join(_METHODS)})
        path: str = request.path_params["path"]
        await self._authorize(request, path)
        body = await self.ctx.body(request)
        arguments: dict[str, Any] = {
            "method": request.method,
            "query_params": dict(request.query_params),
            "headers": request_headers(request),
            "body": body,
        }
        submit = getattr(self.ctx.engine, "submit_request", None)
        if submit is not None and self.ctx.engine.options.background:
            # Starting the call never blocks, so only the plugin's own thread is involved.
            result = await asyncio.wrap_future(submit(path, **arguments))
        else:
            result = await self.ctx.call_plugin("handle_request", path, **arguments)
        return plugin_response(result)

    async def _authorize(self, request: Request, path: str) -> None:
        principal = principal_of(request)
        if principal.allows(Permission.ADMIN):
            return
        trigger = await find_request_trigger(self.ctx, path)
        if trigger is None:
            return  # the engine answers 404 for a path nobody serves
        db, public = trigger
        if public or principal.allows(Permission.DB_READ, db) or principal.allows(
            Permission.DB_WRITE, db
        ):
            return
        raise PermissionDenied(f"db:read or db:write permission on database {db!r}")


async def find_request_trigger(ctx: EdgeContext, path: str) -> tuple[str, bool] | None:
    """The database of the enabled request trigger serving `path`, and whether it is public."""
    for trigger in await ctx.call("list_triggers"):
        if trigger.disabled or request_path_of(trigger.trigger_specification) != path:
            continue
        return trigger.db, str(trigger.trigger_settings.request_auth) == "public"
    return None


async def is_public_request_path(ctx: EdgeContext, path: str) -> bool:
    """Whether anonymous callers may use the request trigger at `path`."""
    found = await find_request_trigger(ctx, path)
    return found is not None and found[1]


def request_path_of(specification: str) -> str | None:
    """The path of a canonical `request:PATH` specification, None for other kinds."""
    kind, sep, path = str(specification).partition(":")
    return path if sep and kind == "request" else None


def request_headers(request: Request) -> dict[str, str]:
    """Headers for the plugin: names lowercased, last one wins, `Authorization` removed."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name != "authorization":
            headers[name] = raw_value.decode("latin-1")
    return headers


def plugin_response(result: Any) -> Response:
    """A Starlette response from the engine's `Response` (status, headers, body)."""
    response = Response(content=bytes(result.body), status_code=int(result.status))
    for name, value in _header_pairs(result.headers):
        if name.lower() != "content-length":
            response.raw_headers.append((name.lower().encode("latin-1"),
                                         value.encode("latin-1", "replace")))
    return response


def _header_pairs(headers: Any) -> Sequence[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]
