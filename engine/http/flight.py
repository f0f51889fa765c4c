"""Arrow Flight query service: the `do_get` tickets InfluxDB 3 clients send, answered with SQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from ..engine import Engine
from ..errors import (
    DatabaseNotFound,
    EngineError,
    InvalidRequest,
    NotAuthenticated,
    PermissionDenied,
)
from ..tokens import Permission, TokenStore
from .auth import UNRESTRICTED, Principal, token_from_authorization

logger = logging.getLogger(__name__)

_MIDDLEWARE_KEY = "processing_engine_auth"
_QUERY_TYPES = frozenset({"sql"})


class _Caller(flight.ServerMiddleware):  # type: ignore[misc]
    """Carries the principal found in a call's headers to the handler."""

    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self.principal = principal


class _AuthFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Turns the `authorization` call header into a `Principal` (or refuses the call)."""

    def __init__(self, tokens: TokenStore | None) -> None:
        super().__init__()
        self._tokens = tokens

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> _Caller:
        if self._tokens is None:
            return _Caller(UNRESTRICTED)
        values = headers.get("authorization") or []
        try:
            token = token_from_authorization(_text(values[0])) if values else None
        except EngineError as exc:
            raise flight.FlightUnauthenticatedError(str(exc)) from exc
        record = None if token is None else self._tokens.authenticate(token)
        if record is None:
            raise flight.FlightUnauthenticatedError(str(NotAuthenticated()))
        return _Caller(Principal(record=record))


class FlightQueryServer(flight.FlightServerBase):  # type: ignore[misc]
    """Answers `do_get` tickets `{"database", "sql_query", "query_type", "params"}` over gRPC.

    The server listens from construction; `shutdown()` stops it.
    """

    def __init__(self, engine: Engine, location: str, *, tokens: TokenStore | None,
                 tls_certificates: list[tuple[bytes, bytes]] | None = None) -> None:
        """Listen on `location` (`grpc+tcp://host:port`, port 0 picks a free one).

        Args:
            engine: The engine whose databases are queried.
            location: Where to listen; `grpc+tls://` needs `tls_certificates`.
            tokens: The token store, or None to accept every caller (auth off).
            tls_certificates: (certificate PEM, key PEM) pairs for TLS.
        """
        super().__init__(location, middleware={_MIDDLEWARE_KEY: _AuthFactory(tokens)},
                         tls_certificates=tls_certificates or [])
        self._engine = engine

    def do_get(self, context: Any, ticket: Any) -> flight.RecordBatchStream:
        principal: Principal = context.get_middleware(_MIDDLEWARE_KEY).principal
        db, sql, params = parse_ticket(ticket.ticket)
        if not principal.allows(Permission.DB_READ, db):
            raise flight.FlightUnauthorizedError(
                str(PermissionDenied(f"read permission on database {db!r}")))
        try:
            table = self._engine.query_arrow(db, sql, params)
        except DatabaseNotFound as exc:
            raise pa.ArrowKeyError(str(exc)) from exc
        except EngineError as exc:
            raise pa.ArrowInvalid(str(exc)) from exc
        return flight.RecordBatchStream(table)


def parse_ticket(raw: bytes) -> tuple[str, str, dict[str, Any] | None]:
    """The database, SQL and parameters of an InfluxDB 3 Flight ticket.

    Raises:
        pyarrow.ArrowInvalid: The ticket is not that JSON object, or asks for a language
            other than SQL.
    """
    try:
        return _ticket_fields(raw)
    except InvalidRequest as exc:
        raise pa.ArrowInvalid(str(exc)) from exc


def _ticket_fields(raw: bytes) -> tuple[str, str, dict[str, Any] | None]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"the Flight ticket is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the Flight ticket must be a JSON object")
    db, sql = data.get("database"), data.get("sql_query")
    if not isinstance(db, str) or not db or not isinstance(sql, str) or not sql:
        raise InvalidRequest("the Flight ticket needs string fields 'database' and 'sql_query'")
    query_type = str(data.get("query_type", "sql")).lower()
    if query_type not in _QUERY_TYPES:
        raise InvalidRequest(f"query_type {query_type!r} is not supported; use 'sql'")
    params = data.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidRequest("the Flight ticket's 'params' must be a JSON object")
    return db, sql, params


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
