"""The server's Starlette application, which serves request triggers ahead of its routing."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from .auth import ENGINE_PREFIX, Authenticator, route_path
from .routes_engine import METHODS, TriggerEndpoint


class EngineApp(Starlette):
    """A Starlette app whose request-trigger calls skip the framework's routing and middleware.

    Request triggers are the one route whose speed users measure, and Starlette's layers cost
    more than the plugin call itself. `TriggerEndpoint.serve_direct` authenticates the caller
    and adds the CORS header as the middleware would. Once a host adds middleware of its own,
    every request goes through the full stack again, so that middleware sees them all.
    """

    def __init__(self, *, endpoint: TriggerEndpoint, authenticator: Authenticator,
                 **settings: Any) -> None:
        super().__init__(**settings)
        self._endpoint = endpoint
        self._authenticator = authenticator
        self._own_middleware = len(self.user_middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request trigger directly; anything else through Starlette."""
        if (scope["type"] == "http" and scope["method"] in METHODS
                and len(self.user_middleware) == self._own_middleware
                and route_path(scope).startswith(ENGINE_PREFIX)):
            scope["app"] = self
            await self._endpoint.serve_direct(scope, receive, send, self._authenticator)
            return
        await super().__call__(scope, receive, send)
