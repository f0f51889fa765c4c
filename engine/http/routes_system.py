"""Liveness and description routes: `/health`, `/ping`, `/api/v3/openapi.json` (no token)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from .context import EdgeContext
from .openapi import openapi_document

_VERSION_HEADERS = {"X-Influxdb-Version": __version__, "X-Influxdb-Build": "processing-engine"}


class SystemRoutes:
    """Routes that need no token and do not touch the engine's data."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/ping", self.ping, methods=["GET"]),
            Route("/api/v3/openapi.json", self.openapi, methods=["GET"]),
        ]

    async def health(self, request: Request) -> Response:
        """200 `OK` while the server runs."""
        return PlainTextResponse("OK", headers=_VERSION_HEADERS)

    async def ping(self, request: Request) -> Response:
        """The version, as InfluxDB 3 answers `/ping`."""
        body = {"version": __version__, "revision": "processing-engine"}
        return JSONResponse(body, headers=_VERSION_HEADERS)

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3 document of every route."""
        return JSONResponse(openapi_document())
