"""Data routes: line-protocol writes (v3, v2 and v1 forms) and database management."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import EngineError, InvalidRequest, WriteError
from ..tokens import Permission
from .auth import principal_of, require, require_admin
from .bodies import optional_bool, query_or_json, required_str
from .context import EdgeContext, empty_ok
from .errors import engine_error_response, error_response, line_error_dict, status_for

DATABASE_PATH = "/api/v3/configure/database"
# v1 clients send n/u/ms/s/m/h; the engine names the first four ns/us/ms/s and has no
# minute or hour precision.
_V1_PRECISION = {"n": "ns", "u": "us"}
_V1_UNSUPPORTED = {"m": "minutes", "h": "hours"}
_V2_ERROR_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not found",
                   413: "request too large"}


class DataRoutes:
    """Writes (`/api/v3/write_lp`, `/api/v2/write`, `/write`) and `/api/v3/configure/database`."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        return [
            Route("/api/v3/write_lp", self.write_lp, methods=["POST"]),
            Route("/api/v2/write", self.write_v2, methods=["POST"]),
            Route("/write", self.write_v1, methods=["POST"]),
            Route(DATABASE_PATH, self.list_databases, methods=["GET"]),
            Route(DATABASE_PATH, self.create_database, methods=["POST"]),
            Route(DATABASE_PATH, self.delete_database, methods=["DELETE"]),
        ]

    async def write_lp(self, request: Request) -> Response:
        """Write line protocol; 204, or 400 naming the bad lines (the reference's bodies)."""
        query = request.query_params
        db = _query_field(query, "db")
        accept_partial = optional_bool(query, "accept_partial", True)
        try:
            result = await self._write(request, db, query.get("precision", "auto"),
                                       accept_partial=accept_partial,
                                       no_sync=optional_bool(query, "no_sync", False))
        except WriteError as exc:
            return write_error_response(exc, accept_partial=accept_partial)
        if result.errors:
            return partial_write_response(result.errors)
        return Response(status_code=204)

    async def write_v2(self, request: Request) -> Response:
        """InfluxDB 2 compatible write (`bucket` is the database; all lines or none)."""
        query = request.query_params
        try:
            db = _query_field(query, "bucket")
            await self._write(request, db, query.get("precision", "ns"), accept_partial=False)
        except EngineError as exc:
            status = status_for(exc)
            code = _V2_ERROR_CODES.get(status, "internal error")
            return JSONResponse({"code": code, "message": str(exc), "error": str(exc)},
                                status_code=status)
        return Response(status_code=204)

    async def write_v1(self, request: Request) -> Response:
        """InfluxDB 1 compatible write (`db`; precision n, u, ms, s, m or h; all or none)."""
        query = request.query_params
        db = _query_field(query, "db")
        precision = query.get("precision", "n")
        if precision in _V1_UNSUPPORTED:
            raise InvalidRequest(f"precision {precision!r} ({_V1_UNSUPPORTED[precision]}) is not "
                                 "supported; use n, u, ms or s")
        await self._write(request, db, _V1_PRECISION.get(precision, precision),
                          accept_partial=False)
        return Response(status_code=204)

    async def list_databases(self, request: Request) -> Response:
        """The databases the caller may read or write, as `[{"iox::database": name}]`."""
        fmt = request.query_params.get("format", "json")
        if fmt != "json":
            raise InvalidRequest(f"unsupported format {fmt!r}; this endpoint answers 'json'")
        principal = principal_of(request)
        names = [
            db for db in await self.ctx.call("list_databases")
            if principal.allows(Permission.DB_READ, db)
            or principal.allows(Permission.DB_WRITE, db)
        ]
        return JSONResponse([{"iox::database": name} for name in names])

    async def create_database(self, request: Request) -> Response:
        """Create a database from `{"db": name}`; 409 when it exists."""
        require_admin(request)
        body = await self.ctx.json(request)
        await self.ctx.call("create_database", required_str(body, "db"))
        return empty_ok()

    async def delete_database(self, request: Request) -> Response:
        """Delete the database `?db=` with its data and triggers; 404 when it does not exist."""
        require_admin(request)
        params = await query_or_json(request, self.ctx.max_request_size)
        await self.ctx.call("delete_database", required_str(params, "db"))
        return empty_ok()

    async def _write(self, request: Request, db: str, precision: str, *,
                     accept_partial: bool, no_sync: bool = False) -> Any:
        require(request, Permission.DB_WRITE, db)
        body = await self.ctx.body(request)
        return await self.ctx.call("write_lp", db, body, precision=precision,
                                   accept_partial=accept_partial, no_sync=no_sync)


def _query_field(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise InvalidRequest(f"missing query parameter {name!r}")
    return value


def partial_write_response(errors: list[Any]) -> Response:
    """400 `partial write of line protocol occurred` listing every rejected line."""
    return error_response(400, "partial write of line protocol occurred",
                          data=[line_error_dict(item) for item in errors])


def write_error_response(exc: WriteError, *, accept_partial: bool) -> Response:
    """The reference's body for a refused write: the bad lines, or the first one."""
    if not exc.errors:
        return engine_error_response(exc)
    if accept_partial:
        return partial_write_response(exc.errors)
    return error_response(400, f"line protocol parsing error: {exc}",
                          data=line_error_dict(exc.errors[0]))
