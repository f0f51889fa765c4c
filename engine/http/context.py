"""What every route needs: the engine, the body size limit, and a way to call the engine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import OperationNotSupported
from ..tokens import TokenStore
from .bodies import json_object, read_body

DEFAULT_MAX_REQUEST_SIZE = 10 * 1024 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class EdgeContext:
    """Shared by the route groups of one app.

    Attributes:
        engine: The engine every route delegates to.
        tokens: The token store, or None when authentication is off.
        max_request_size: Largest accepted body, in bytes, after gzip decoding.
    """

    engine: Any
    tokens: TokenStore | None
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE

    async def call(self, operation: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run `engine.<operation>(*args, **kwargs)` on a worker thread, never on the event loop.

        Raises:
            OperationNotSupported: The engine has no such method (answered as 501).
        """
        function = self.method(operation)
        return await run_in_threadpool(functools.partial(function, *args, **kwargs))

    def method(self, name: str) -> Callable[..., Any]:
        """The engine's bound method `name`, or `OperationNotSupported` when it has none."""
        function = getattr(self.engine, name, None)
        if not callable(function):
            raise OperationNotSupported(f"Engine.{name}")
        return function  # type: ignore[no-any-return]

    async def body(self, request: Request) -> bytes:
        """The request body within the size limit (gzip decoded)."""
        return await read_body(request, self.max_request_size)

    async def json(self, request: Request) -> dict[str, Any]:
        """The request body as a JSON object within the size limit."""
        return await json_object(request, self.max_request_size)


def empty_ok() -> Response:
    """200 with an empty body, as the reference answers configuration calls."""
    return Response(status_code=200)


async def in_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a blocking function on a worker thread."""
    return await run_in_threadpool(functools.partial(function, *args, **kwargs))
