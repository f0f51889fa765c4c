"""Specification of `EngineApp` (engine.http.app): request triggers served ahead of Starlette's
routing and middleware, with the same answers as through them."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import ApiClient, Tokens, api_client, live_server, make_tokens, write_plugins
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.engine import Engine
from engine.http import create_app
from engine.tokens import TokenRecord, TokenStore

ENGINE = "/api/v3/engine"
MAX_REQUEST_SIZE = 1024
BOOM = ("def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
        "                    args=None):\n"
        "    raise ValueError('boom')\n")
# The headers that say something about the answer (uvicorn adds date and server).
COMPARED_HEADERS = ("content-type", "content-length", "www-authenticate", "allow",
                    "access-control-allow-origin", "access-control-allow-methods",
                    "access-control-allow-headers", "access-control-max-age")


class RecordingMiddleware:
    """A host's own ASGI middleware: notes every HTTP request and marks every response."""

    def __init__(self, app: ASGIApp, *, seen: list[tuple[str, str]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.seen.append((scope["method"], scope["path"]))

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-host", b"seen")]
            await send(message)

        await self.app(scope, receive, marked)


@pytest.fixture
def engine(plugin_dir: Path) -> Iterator[Engine]:
    write_plugins(plugin_dir)
    (plugin_dir / "boom.py").write_text(BOOM)
    with Engine(plugin_dir) as running:
        running.create_database("mydb")
        running.create_trigger("mydb", "hello", plugin_filename="hello.py",
                               trigger_specification="request:hello",
                               trigger_arguments={"a": "b"})
        running.create_trigger("mydb", "open", plugin_filename="hello.py",
                               trigger_specification="request:open/hook",
                               trigger_settings={"request_auth": "public"})
        running.create_trigger("mydb", "boom", plugin_filename="boom.py",
                               trigger_specification="request:boom")
        yield running


@pytest.fixture
def tokens(engine: Engine) -> Tokens:
    return make_tokens(engine)


@dataclass(frozen=True)
class Case:
    """One request, and the status it must get."""

    method: str
    path: str
    who: str = "none"
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    status: int = 200

    def send(self, client: ApiClient | httpx.Client, tokens: Tokens,
             prefix: str = "") -> httpx.Response:
        return client.request(self.method, f"{prefix}{ENGINE}/{self.path}",
                              headers={**tokens.header(self.who), **self.headers},
                              content=self.content, params=self.params)


PREFLIGHT = {"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"}
CASES = {
    "get": Case("GET", "hello", "read", params={"name": "ada"}),
    "post": Case("POST", "hello", "write", content=b'{"x": 1}',
                 headers={"Content-Type": "application/json"}),
    "post-gzip": Case("POST", "hello", "admin", content=gzip.compress(b"zipped"),
                      headers={"Content-Encoding": "gzip"}),
    "no-token": Case("GET", "hello", status=401),
    "unknown-token": Case("GET", "hello", "unknown", status=401),
    "malformed-authorization": Case("GET", "hello", headers={"Authorization": "Bearer a b"},
                                    status=400),
    "other-database-token": Case("GET", "hello", "other_db", status=403),
    "public-anonymous": Case("POST", "open/hook", content=b"{}"),
    "public-junk-authorization": Case("GET", "open/hook", headers={"Authorization": "junk"}),
    "unknown-path": Case("GET", "nope", "admin", status=404),
    "unknown-path-anonymous": Case("GET", "nope", status=401),
    "plugin-error": Case("GET", "boom", "admin", status=500),
    "too-large": Case("POST", "hello", "admin", content=b"x" * (MAX_REQUEST_SIZE + 1),
                      status=413),
    "invalid-gzip": Case("POST", "hello", "admin", content=b"plain",
                         headers={"Content-Encoding": "gzip"}, status=400),
    "unsupported-encoding": Case("POST", "hello", "admin", content=b"plain",
                                 headers={"Content-Encoding": "br"}, status=415),
    "head": Case("HEAD", "hello", "admin", status=405),
    "put": Case("PUT", "hello", "admin", status=405),
    "options-preflight": Case("OPTIONS", "hello", headers=PREFLIGHT, status=204),
}


def answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k in COMPARED_HEADERS)
    return response.status_code, response.content, headers


@contextlib.contextmanager
def clients(engine: Engine) -> Iterator[tuple[Starlette, ApiClient, ApiClient]]:
    """The app as created (fast path), and a client over the same app with a host middleware
    added, which puts every request through Starlette's whole stack as before."""
    fast = create_app(engine, max_request_size=MAX_REQUEST_SIZE)
    full = create_app(engine, max_request_size=MAX_REQUEST_SIZE)
    full.add_middleware(RecordingMiddleware, seen=[])
    with api_client(fast) as fast_client, api_client(full) as full_client:
        yield fast, fast_client, full_client


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_the_fast_path_answers_as_the_full_stack_does(engine: Engine, tokens: Tokens,
                                                     case: Case) -> None:
    with clients(engine) as (_, fast, full):
        response = case.send(fast, tokens)
        assert response.status_code == case.status, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        assert answer(response) == answer(case.send(full, tokens))


@pytest.mark.parametrize(("name", "body"), [
    ("get", {"hello": "ada", "body": "", "args": {"a": "b"}, "auth": False}),
    ("post", {"hello": "world", "body": '{"x": 1}', "args": {"a": "b"}, "auth": False}),
    ("post-gzip", {"hello": "world", "body": "zipped", "args": {"a": "b"}, "auth": False}),
    ("public-anonymous", {"hello": "world", "body": "{}", "args": None, "auth": False}),
], ids=["get", "post", "post-gzip", "public-anonymous"])
def test_a_served_call_reaches_the_plugin_and_answers_with_its_json(
        engine: Engine, tokens: Tokens, name: str, body: dict[str, Any]) -> None:
    with clients(engine) as (_, fast, _full):
        response = CASES[name].send(fast, tokens)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["content-length"] == str(len(response.content))
        assert response.json() == body


@pytest.mark.parametrize("name", ["no-token", "unknown-token"], ids=["no-token", "unknown"])
def test_401_asks_for_a_bearer_token_and_allows_any_origin(engine: Engine, tokens: Tokens,
                                                          name: str) -> None:
    with clients(engine) as (_, fast, _full):
        response = CASES[name].send(fast, tokens)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["error"].startswith("the request was not authenticated")


def test_400_403_and_the_preflight_say_why(engine: Engine, tokens: Tokens) -> None:
    with clients(engine) as (_, fast, _full):
        malformed = CASES["malformed-authorization"].send(fast, tokens)
        assert "Authorization header was malformed" in malformed.json()["error"]
        forbidden = CASES["other-database-token"].send(fast, tokens)
        assert "database 'mydb'" in forbidden.json()["error"]
        head = CASES["head"].send(fast, tokens)
        assert head.headers["allow"] == "GET, POST"
        preflight = CASES["options-preflight"].send(fast, tokens)
        assert preflight.content == b""
        assert preflight.headers["access-control-allow-methods"] == "*"
        assert preflight.headers["access-control-allow-headers"] == "*"
        assert preflight.headers["access-control-max-age"] == "86400"


def test_request_triggers_skip_starlettes_stack_until_something_else_is_asked(
        engine: Engine, tokens: Tokens) -> None:
    with clients(engine) as (app, fast, _full):
        for name in ("get", "post", "no-token", "other-database-token", "public-anonymous"):
            assert CASES[name].send(fast, tokens).status_code == CASES[name].status
        # Starlette builds its middleware stack on the first request it handles itself.
        assert app.middleware_stack is None
        assert fast.get("/health").status_code == 200
        assert app.middleware_stack is not None
        assert CASES["get"].send(fast, tokens).json()["hello"] == "ada"


def test_a_host_middleware_added_to_the_app_sees_request_trigger_calls(
        engine: Engine, tokens: Tokens) -> None:
    seen: list[tuple[str, str]] = []
    app = create_app(engine)
    app.add_middleware(RecordingMiddleware, seen=seen)
    with api_client(app) as client:
        served = CASES["get"].send(client, tokens)
        refused = CASES["no-token"].send(client, tokens)
        public = CASES["public-anonymous"].send(client, tokens)
        health = client.get("/health")
    assert (served.status_code, refused.status_code, public.status_code) == (200, 401, 200)
    assert served.json()["hello"] == "ada"
    assert health.status_code == 200
    for response in (served, refused, public, health):
        assert response.headers["x-host"] == "seen"
    for response in (served, refused, public):
        assert response.headers["access-control-allow-origin"] == "*"
    assert seen == [("GET", f"{ENGINE}/hello"), ("GET", f"{ENGINE}/hello"),
                    ("POST", f"{ENGINE}/open/hook"), ("GET", "/health")]


@pytest.mark.parametrize("host_middleware", [False, True], ids=["bare-host", "host-middleware"])
def test_the_app_mounted_under_a_prefix_serves_request_triggers_there(
        engine: Engine, tokens: Tokens, host_middleware: bool) -> None:
    seen: list[tuple[str, str]] = []
    middleware = [Middleware(RecordingMiddleware, seen=seen)] if host_middleware else []
    host = Starlette(routes=[Mount("/prefix", app=create_app(engine))], middleware=middleware)
    with api_client(host) as client:
        served = CASES["get"].send(client, tokens, prefix="/prefix")
        refused = CASES["no-token"].send(client, tokens, prefix="/prefix")
        forbidden = CASES["other-database-token"].send(client, tokens, prefix="/prefix")
        public = CASES["public-anonymous"].send(client, tokens, prefix="/prefix")
        unknown = CASES["unknown-path"].send(client, tokens, prefix="/prefix")
    assert served.status_code == 200
    assert served.json() == {"hello": "ada", "body": "", "args": {"a": "b"}, "auth": False}
    assert (refused.status_code, forbidden.status_code) == (401, 403)
    assert public.status_code == 200 and public.json()["body"] == "{}"
    assert unknown.status_code == 404 and "'nope'" in unknown.json()["error"]
    assert served.headers["access-control-allow-origin"] == "*"
    if host_middleware:
        assert len(seen) == 5 and seen[0] == ("GET", f"/prefix{ENGINE}/hello")


@pytest.mark.parametrize("auth", [True, False], ids=["auth", "no-auth"])
def test_create_app_gives_a_starlette_app(engine: Engine, auth: bool) -> None:
    assert isinstance(create_app(engine, auth=auth), Starlette)


def test_with_auth_off_anyone_reaches_request_triggers(engine: Engine, tokens: Tokens) -> None:
    with api_client(create_app(engine, auth=False)) as client:
        response = CASES["no-token"].send(client, tokens)
        junk = client.get(f"{ENGINE}/hello", headers={"Authorization": "junk"})
    assert response.status_code == 200 and junk.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["hello"] == "world"


def test_an_engine_without_background_threads_is_served_too(plugin_dir: Path) -> None:
    write_plugins(plugin_dir)
    with Engine(plugin_dir, background=False, watch_plugins=False) as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        tokens = make_tokens(engine)
        with api_client(create_app(engine)) as client:
            served = CASES["post"].send(client, tokens)
            refused = CASES["no-token"].send(client, tokens)
    assert served.status_code == 200 and served.json()["body"] == '{"x": 1}'
    assert refused.status_code == 401


LIVE = ["get", "post", "post-gzip", "no-token", "malformed-authorization",
        "other-database-token", "public-anonymous", "unknown-path", "head", "options-preflight"]


@pytest.mark.parametrize("name", LIVE, ids=LIVE)
def test_a_real_uvicorn_gives_the_same_answers(engine: Engine, tokens: Tokens,
                                               name: str) -> None:
    case = CASES[name]
    with clients(engine) as (app, in_process, _full):
        expected = answer(case.send(in_process, tokens))
        with live_server(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            response = case.send(client, tokens)
    assert response.status_code == case.status
    assert answer(response) == expected


class _UnreadableTokens(TokenStore):
    """A token store whose catalog cannot be read (a failure that is not an EngineError)."""

    def authenticate(self, token: str) -> TokenRecord | None:
        raise OSError("the catalog could not be read")


def test_a_failure_while_authenticating_is_a_json_500_any_origin_may_read(
        engine: Engine, tokens: Tokens) -> None:
    app = create_app(engine, tokens=_UnreadableTokens(engine.catalog))
    with api_client(app, raise_app_exceptions=False) as client:
        response = client.get("/api/v3/engine/hello", headers=tokens.header("admin"))
    assert response.status_code == 500
    assert "the catalog could not be read" in response.json()["error"]
    assert response.headers["access-control-allow-origin"] == "*"
