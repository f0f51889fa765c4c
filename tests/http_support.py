"""Helpers for the HTTP edge tests: a synchronous in-process client and a live uvicorn server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import uvicorn

from engine.engine import Engine
from engine.tokens import TokenStore

PLUGINS: dict[str, str] = {
    "schedule.py": "def process_scheduled_call(influxdb3_local, call_time, args=None):\n"
                   "    influxdb3_local.info('tick')\n",
    "wal.py": "def process_writes(influxdb3_local, table_batches, args=None):\n"
              "    influxdb3_local.info('rows', sum(len(b['rows']) for b in table_batches))\n",
    "hello.py": "def process_request(influxdb3_local, query_parameters, request_headers,\n"
                "                    request_body, args=None):\n"
                "    return {'hello': query_parameters.get('name', 'world'),\n"
                "            'body': request_body.decode(), 'args': args,\n"
                "            'auth': 'authorization' in request_headers}\n",
}


def write_plugins(plugin_dir: Path) -> Path:
    """Write the small plugins every HTTP test uses into `plugin_dir`."""
    for name, text in PLUGINS.items():
        (plugin_dir / name).write_text(text)
    return plugin_dir


class ApiClient:
    """A blocking client for an ASGI app, for plain (non-async) test functions."""

    def __init__(self, app: Any, portal: Any, *, raise_app_exceptions: bool = True) -> None:
        self._portal = portal
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request and wait for the response."""
        response: httpx.Response = self._portal.call(
            lambda: self._client.request(method, url, **kwargs))
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@contextlib.contextmanager
def api_client(app: Any, *, raise_app_exceptions: bool = True) -> Iterator[ApiClient]:
    """An `ApiClient` over `app`, closed on exit."""
    with anyio.from_thread.start_blocking_portal() as portal:
        client = ApiClient(app, portal, raise_app_exceptions=raise_app_exceptions)
        try:
            yield client
        finally:
            client.close()


@dataclass(frozen=True)
class Tokens:
    """One token of each kind, for auth checks (read/write cover database `mydb` only)."""

    admin: str
    read: str
    write: str
    other_db: str

    def header(self, who: str) -> dict[str, str]:
        """Authorization headers for `none`, `unknown`, `read`, `write`, `other_db` or `admin`."""
        if who == "none":
            return {}
        if who == "unknown":
            return {"Authorization": "Bearer apiv3_not-a-real-token"}
        return {"Authorization": f"Bearer {getattr(self, who)}"}


def make_tokens(engine: Engine) -> Tokens:
    """Create one token of each kind in the engine's catalog."""
    store = TokenStore(engine.catalog)
    return Tokens(
        admin=store.create_admin_token()[0],
        read=store.create_database_token(["mydb"], ["read"])[0],
        write=store.create_database_token(["mydb"], ["write"])[0],
        other_db=store.create_database_token(["other"], ["read", "write"])[0],
    )


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with a real uvicorn (httptools, uvloop) on a free port; yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", loop="uvloop", http="httptools")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def served_engine(plugin_dir: Path, *, auth: bool = True, **create_app_options: Any,
                  ) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    """A started in-memory engine with the test plugins, its app and a client, and tokens."""
    from engine.http import create_app

    write_plugins(plugin_dir)
    with Engine(plugin_dir) as engine:
        tokens = make_tokens(engine)
        app = create_app(engine, auth=auth, **create_app_options)
        with api_client(app) as client:
            yield engine, client, tokens
