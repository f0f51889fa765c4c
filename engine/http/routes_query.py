"""`GET|POST /api/v3/query_sql`: SQL over a database, as JSON, JSON lines, CSV or Parquet."""

from __future__ import annotations

import functools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import InvalidRequest
from ..tokens import Permission
from .auth import require
from .bodies import optional_str, required_str
from .context import EdgeContext, in_thread
from .formats import MEDIA_TYPES, choose_format, render

QUERY_PATH = "/api/v3/query_sql"


class QueryRoutes:
    """`/api/v3/query_sql`: GET with a query string, POST with a JSON body."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        return [Route(QUERY_PATH, self.query, methods=["GET", "POST"])]

    async def query(self, request: Request) -> Response:
        """Run `q` against `db` with `$name` parameters from `params`."""
        if request.method == "POST":
            fields = await self.ctx.json(request)
        else:
            fields = dict(request.query_params)
        db, sql = required_str(fields, "db"), required_str(fields, "q")
        fmt = choose_format(optional_str(fields, "format"), request.headers.get("accept"))
        params = query_parameters(fields.get("params"))
        require(request, Permission.DB_READ, db)
        table = await self.ctx.call("query_arrow", db, sql, params)
        body = await in_thread(functools.partial(render, table, fmt), pool=self.ctx.engine_threads)
        return Response(body, media_type=MEDIA_TYPES[fmt])


def query_parameters(value: Any) -> dict[str, Any] | None:
    """`params` as an object: given as one, or as its JSON text (the query-string form).

    Raises:
        InvalidRequest: It is neither, or a value is not a string, number or boolean.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"field 'params' is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("field 'params' must be a JSON object of parameter values")
    for name, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise InvalidRequest(
                f"query parameter {name!r} must be a string, number or boolean, got {item!r}"
            )
    return value
