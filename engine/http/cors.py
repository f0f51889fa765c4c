"""Permissive CORS, as InfluxDB 3 answers: any origin, and preflight requests before auth."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
_PREFLIGHT_HEADERS = [
    ALLOW_ORIGIN,
    (b"access-control-allow-methods", b"*"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
    (b"content-length", b"0"),
]


class CorsMiddleware:
    """Answer every `OPTIONS` with 204 and permissive CORS headers; add the origin header to
    every other response. Browsers then reach request triggers from any page; tokens still
    travel in the Authorization header, never in cookies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204,
                        "headers": list(_PREFLIGHT_HEADERS)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), ALLOW_ORIGIN]
            await send(message)

        await self.app(scope, receive, send_with_origin)
