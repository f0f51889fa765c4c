"""`/api/v3/engine/{path}`: HTTP requests handed to request triggers (the server's hot path)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.responses import Response as StarletteResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from ..errors import EngineError, PermissionDenied
from ..responses import Response
from ..tokens import Permission
from .auth import (
    ENGINE_PREFIX,
    UNRESTRICTED,
    Authenticator,
    Principal,
    route_path,
    scope_principal,
)
from .bodies import read_asgi_body
from .context import EdgeContext
from .cors import ALLOW_ORIGIN
from .errors import engine_error_response, error_response
from .loop_inbox import LoopInbox

logger = logging.getLogger(__name__)

METHODS = ("GET", "POST")
_NO_LENGTH_STATUSES = frozenset({204, 304})


class TriggerEndpoint:
    """The ASGI endpoint of request triggers.

    A request's cost here is most of what a request trigger costs, so it speaks ASGI itself:
    no request or response objects, one wake-up of the event loop per batch of finished plugin
    calls (`LoopInbox`), and its errors answered as JSON on the spot. `EngineApp` calls
    `serve_direct` before any routing; through the app's routes it runs after the middleware.
    """

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx
        # The inbox of the loop serving us; a request on another loop makes a new one (requests
        # in flight keep theirs).
        self._inbox: LoopInbox | None = None

    def routes(self) -> list[BaseRoute]:
        """The route for the app's router (other methods are answered 405 by the router)."""
        return [Route(ENGINE_PREFIX + "{path:path}", self, methods=list(METHODS))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request that came through the app's middleware (caller and CORS done)."""
        await self._serve(scope, receive, send, scope_principal(scope), cors=False)

    async def serve_direct(self, scope: Scope, receive: Receive, send: Send,
                           authenticator: Authenticator) -> None:
        """Serve a request straight from the server: authenticate it and add the CORS header."""
        principal = UNRESTRICTED
        if authenticator.tokens is not None:
            try:
                principal = await authenticator.authenticate(scope)
            except Exception as exc:  # answered as the middleware and error handlers would
                await _send_error(_error_for(exc, scope), scope, receive, send, cors=True)
                return
        await self._serve(scope, receive, send, principal, cors=True)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, principal: Principal,
                     *, cors: bool) -> None:
        method: str = scope["method"]
        if method not in METHODS:  # HEAD, which the router adds to GET
            message = f"method {method} not allowed on {scope['path']}"
            await _send_error(error_response(405, message, headers={"Allow": ", ".join(METHODS)}),
                              scope, receive, send, cors=cors)
            return
        try:
            path = route_path(scope)[len(ENGINE_PREFIX):]
            if not principal.unrestricted:
                await self._authorize(principal, path)
            headers = plugin_headers(scope)
            body = b""
            if _may_have_body(scope, headers):
                body = await read_asgi_body(receive, headers, self.ctx.max_request_size)
            query = scope.get("query_string", b"")
            params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if (
                query) else {}
            result = await self._call(path, method, params, headers, body)
            start, end = _response_messages(result, cors)
        except ClientDisconnect:
            return
        except Exception as exc:  # every failure is answered as JSON, like the other routes
            await _send_error(_error_for(exc, scope), scope, receive, send, cors=cors)
            return
        await send(start)
        await send(end)

    def _call(self, path: str, method: str, params: dict[str, str], headers: dict[str, str],
              body: bytes) -> Awaitable[Any]:
        """Run the request trigger: from the event loop when the engine allows it, else from a
        worker thread."""
        engine = self.ctx.engine
        inbox = self._loop_inbox()
        if inbox is None or not engine.options.background:
            return self.ctx.call_plugin("handle_request", path, method=method,
                                        query_params=params, headers=headers, body=body)
        # Starting the call never blocks, so only the plugin's own thread is involved.
        waiter: asyncio.Future[Response]
        deliver: Callable[[Response], None]
        waiter, deliver = inbox.expect()
        engine.start_request(path, then=deliver, method=method, query_params=params,
                             headers=headers, body=body)
        return waiter

    def _loop_inbox(self) -> LoopInbox | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio through anyio)
            return None
        inbox = self._inbox
        if inbox is None or inbox.loop is not loop:
            inbox = self._inbox = LoopInbox(loop)
        return inbox

    async def _authorize(self, principal: Principal, path: str) -> None:
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


def _may_have_body(scope: Scope, headers: Mapping[str, str]) -> bool:
    """False only when the request cannot carry a body: HTTP/1 without a length or chunking
    (RFC 9112 §6.3). Most GETs are such, and skip a round through `receive`."""
    if not str(scope.get("http_version", "1.1")).startswith("1"):
        return True  # HTTP/2 and 3 may send a body without declaring its length
    return "content-length" in headers or "transfer-encoding" in headers


def _error_for(exc: Exception, scope: Scope) -> StarletteResponse:
    if isinstance(exc, EngineError):
        return engine_error_response(exc)
    logger.error("unexpected error serving %s %s", scope.get("method"), scope.get("path"),
                 exc_info=exc)
    return error_response(500, f"internal server error: {type(exc).__name__}: {exc}")


async def _send_error(response: StarletteResponse, scope: Scope, receive: Receive, send: Send,
                      *, cors: bool) -> None:
    async def send_with_origin(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), ALLOW_ORIGIN]
        await send(message)

    await response(scope, receive, send_with_origin if cors else send)


def _response_messages(result: Any, cors: bool) -> tuple[Message, Message]:
    """The ASGI messages for the engine's `Response`: its status, headers and body."""
    status = int(result.status)
    body = bytes(result.body)
    headers: list[tuple[bytes, bytes]] = []
    if status >= 200 and status not in _NO_LENGTH_STATUSES:
        headers.append((b"content-length", str(len(body)).encode()))
    pairs = result.headers.items() if isinstance(result.headers, Mapping) else result.headers
    for name, value in pairs:
        lowered = str(name).lower()
        if lowered != "content-length":
            headers.append((lowered.encode("latin-1"), str(value).encode("latin-1", "replace")))
    if cors:
        headers.append(ALLOW_ORIGIN)
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body})


async def find_request_trigger(ctx: EdgeContext, path: str) -> tuple[str, bool] | None:
    """The database of the enabled request trigger serving `path`, and whether it is public."""
    trigger = ctx.engine.request_trigger(path)  # no I/O, no lock: fine on the event loop
    if trigger is None:
        return None
    return trigger.db, str(trigger.trigger_settings.request_auth) == "public"


async def is_public_request_path(ctx: EdgeContext, path: str) -> bool:
    """Whether anonymous callers may use the request trigger at `path`."""
    found = await find_request_trigger(ctx, path)
    return found is not None and found[1]


def plugin_headers(scope: Scope) -> dict[str, str]:
    """Headers for the plugin: names lowercased, last one wins, `Authorization` removed."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name != "authorization":
            headers[name] = raw_value.decode("latin-1")
    return headers
