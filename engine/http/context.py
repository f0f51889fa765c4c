"""What every route needs: the engine, the body size limit, and worker threads to call it on."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..engine import Engine
from ..errors import OperationNotSupported
from ..tokens import TokenStore
from .bodies import json_object, read_body

DEFAULT_MAX_REQUEST_SIZE = 10 * 1024 * 1024
# Threads waiting on request plugins; separate from the rest so that slow plugins can never
# hold up configuration calls, writes or queries.
PLUGIN_THREADS = 64
ENGINE_THREADS = 16

_T = TypeVar("_T")


def _pool(size: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)


@dataclass(frozen=True, slots=True)
class EdgeContext:
    """Shared by the route groups of one app.

    Attributes:
        engine: The engine every route delegates to.
        tokens: The token store, or None when authentication is off.
        max_request_size: Largest accepted body, in bytes, after gzip decoding.
        plugin_threads: Worker threads for request-plugin calls.
        engine_threads: Worker threads for every other engine call.
    """

    engine: Engine
    tokens: TokenStore | None
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    plugin_threads: ThreadPoolExecutor = field(
        default_factory=lambda: _pool(PLUGIN_THREADS, "http-plugin"))
    engine_threads: ThreadPoolExecutor = field(
        default_factory=lambda: _pool(ENGINE_THREADS, "http-engine"))

    async def call(self, operation: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run `engine.<operation>(*args, **kwargs)` on a worker thread, never on the event loop.

        Raises:
            OperationNotSupported: The engine has no such method (answered as 501).
        """
        function = functools.partial(self.method(operation), *args, **kwargs)
        return await in_thread(function, pool=self.engine_threads)

    async def call_plugin(self, operation: str, /, *args: Any, **kwargs: Any) -> Any:
        """Like `call`, on the threads kept for plugin calls."""
        function = functools.partial(self.method(operation), *args, **kwargs)
        return await in_thread(function, pool=self.plugin_threads)

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


async def in_thread(function: Callable[[], _T], *, pool: ThreadPoolExecutor | None = None) -> _T:
    """Run a blocking function on a worker thread and wait for it without blocking the loop.

    Under asyncio (uvicorn) it runs on `pool` through the event loop's executor hook, which costs
    a fraction of anyio's thread hand-off per call; under other async libraries it falls back
    to Starlette's thread pool.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio through anyio)
        return await run_in_threadpool(function)
    if pool is None:
        return await run_in_threadpool(function)
    return await loop.run_in_executor(pool, function)
