"""The HTTP edge: `create_app(engine)` builds the InfluxDB 3 compatible ASGI application."""

from __future__ import annotations

try:
    from starlette.applications import Starlette
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "engine.http needs starlette: pip install 'processing-engine[http]'"
    ) from exc

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from ..engine import Engine
from ..errors import EngineError, InvalidServerOption
from ..tokens import TokenStore
from .app import EngineApp
from .auth import Authenticator, AuthMiddleware
from .context import DEFAULT_MAX_REQUEST_SIZE, EdgeContext
from .cors import CorsMiddleware
from .errors import handle_engine_error, handle_http_exception, handle_unexpected
from .routes_data import DataRoutes
from .routes_engine import TriggerEndpoint, is_public_request_path
from .routes_plugins import PluginRoutes
from .routes_query import QueryRoutes
from .routes_system import SystemRoutes
from .routes_tokens import TokenRoutes
from .routes_triggers import TriggerRoutes

__all__ = ["DEFAULT_MAX_REQUEST_SIZE", "create_app"]


def create_app(
    engine: Engine,
    *,
    auth: bool = True,
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
    tokens: TokenStore | None = None,
) -> Starlette:
    """Build the ASGI app serving `engine` over the InfluxDB 3 REST API.

    The app holds no engine logic: each route parses its input, calls one public `Engine` method
    on a worker thread, and turns the result (or the `EngineError`) into a response; request
    triggers are started from the event loop (`Engine.start_request` never blocks) and run on
    the engine's plugin threads. It can be mounted inside a host's Starlette or FastAPI app.

    Args:
        engine: The `Engine` to serve (started and stopped by its owner, not by the app).
        auth: Require tokens (`Authorization: Bearer|Token|Basic`); False lets anyone do anything.
        max_request_size: Largest request body in bytes, after gzip decoding (413 beyond).
        tokens: Token store to check tokens against; defaults to one over `engine.catalog`.

    Returns:
        The Starlette application.

    Raises:
        InvalidServerOption: `max_request_size` is not a whole number of bytes > 0.
    """
    if isinstance(max_request_size, bool) or not isinstance(max_request_size, int) or (
            max_request_size <= 0):
        raise InvalidServerOption("max_request_size", max_request_size,
                                  "a whole number of bytes > 0")
    store = (tokens if tokens is not None else TokenStore(engine.catalog)) if auth else None
    ctx = EdgeContext(engine=engine, tokens=store, max_request_size=max_request_size)

    async def public_request_path(path: str) -> bool:
        return await is_public_request_path(ctx, path)

    authenticator = Authenticator(store, public_request_path)
    endpoint = TriggerEndpoint(ctx)
    return EngineApp(
        endpoint=endpoint,
        authenticator=authenticator,
        routes=all_routes(ctx, endpoint),
        middleware=[
            Middleware(CorsMiddleware),
            Middleware(AuthMiddleware, authenticator=authenticator),
        ],
        exception_handlers={EngineError: handle_engine_error, HTTPException: handle_http_exception,
                            Exception: handle_unexpected},
    )


def all_routes(ctx: EdgeContext, endpoint: TriggerEndpoint | None = None) -> list[BaseRoute]:
    """Every route of the API, group by group (`endpoint` serves the request triggers)."""
    # Request-trigger calls are the hot path: their route is matched first.
    endpoint = endpoint or TriggerEndpoint(ctx)
    groups = (SystemRoutes, TriggerRoutes, PluginRoutes, DataRoutes, QueryRoutes, TokenRoutes)
    return endpoint.routes() + [route for group in groups for route in group(ctx).routes()]
