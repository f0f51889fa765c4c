"""Specification of `/api/v3/engine/{path}` (engine.http.routes_engine): request triggers."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import ApiClient, Tokens, live_server, make_tokens, served_engine, write_plugins
from starlette.types import Message, Scope

from engine.engine import Engine
from engine.http import create_app

ENGINE = "/api/v3/engine"
BOOM = ("def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
        "                    args=None):\n"
        "    raise ValueError('boom')\n")
SLOW = ("import time\n"
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
        "                    args=None):\n"
        "    time.sleep(float(query_parameters.get('seconds', '1')))\n"
        "    return 'slept'\n")
SHAPED = ("def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
          "                    args=None):\n"
          "    return 'made', 201, {'X-Custom': 'yes', 'Content-Type': 'text/plain'}\n")


def _split(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i:i + size] for i in range(0, len(data), size))


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    (plugin_dir / "boom.py").write_text(BOOM)
    (plugin_dir / "shaped.py").write_text(SHAPED)
    with served_engine(plugin_dir) as parts:
        engine = parts[0]
        engine.create_database("mydb")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello",
                              trigger_arguments={"a": "b"})
        engine.create_trigger("mydb", "boom", plugin_filename="boom.py",
                              trigger_specification="request:deep/boom")
        engine.create_trigger("mydb", "shaped", plugin_filename="shaped.py",
                              trigger_specification="request:shaped")
        yield parts


def test_get_passes_query_parameters_and_arguments(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get(f"{ENGINE}/hello", params={"name": "ada"},
                          headers=tokens.header("read"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "ada", "body": "", "args": {"a": "b"}, "auth": False}


def test_post_passes_the_body_without_the_authorization_header(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.post(f"{ENGINE}/hello", content=b'{"x": 1}',
                           headers={"Content-Type": "application/json",
                                    **tokens.header("write")})
    assert response.status_code == 200
    assert response.json()["body"] == '{"x": 1}'
    assert response.json()["auth"] is False


def test_gzip_request_body_is_decoded(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.post(f"{ENGINE}/hello", content=gzip.compress(b"unzipped"),
                           headers={"Content-Encoding": "gzip", **tokens.header("admin")})
    assert response.json()["body"] == "unzipped"


def test_plugin_status_and_headers_are_sent(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get(f"{ENGINE}/shaped", headers=tokens.header("admin"))
    assert response.status_code == 201
    assert response.text == "made"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"] == "text/plain"


def test_plugin_failure_is_500_json(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get(f"{ENGINE}/deep/boom", headers=tokens.header("admin"))
    assert response.status_code == 500
    assert "ValueError: boom" in response.json()["error"]


@pytest.mark.parametrize("path", ["nope", "", "hello/extra", "HELLO"],
                         ids=["unknown", "empty", "longer", "case"])
def test_unknown_path_is_404_json(served: tuple[Engine, ApiClient, Tokens], path: str) -> None:
    _, client, tokens = served
    response = client.get(f"{ENGINE}/{path}", headers=tokens.header("admin"))
    assert response.status_code == 404
    assert "error" in response.json()


def test_disabled_trigger_is_404(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    engine.disable_trigger("mydb", "hello")
    assert client.get(f"{ENGINE}/hello", headers=tokens.header("admin")).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"],
                         ids=["put", "delete", "patch", "head"])
def test_other_methods_are_405(served: tuple[Engine, ApiClient, Tokens], method: str) -> None:
    _, client, tokens = served
    response = client.request(method, f"{ENGINE}/hello", headers=tokens.header("admin"))
    assert response.status_code == 405
    if method != "HEAD":
        assert "not allowed" in response.json()["error"]


def test_oversized_body_is_413_and_the_plugin_is_not_called(plugin_dir: Path) -> None:
    with served_engine(plugin_dir, max_request_size=64) as (engine, client, tokens):
        engine.create_database("mydb")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        response = client.post(f"{ENGINE}/hello", content=b"x" * 65,
                               headers=tokens.header("admin"))
        assert response.status_code == 413
        assert client.post(f"{ENGINE}/hello", content=b"x" * 64,
                           headers=tokens.header("admin")).status_code == 200


def test_other_database_token_is_403(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get(f"{ENGINE}/hello", headers=tokens.header("other_db"))
    assert response.status_code == 403
    assert "database 'mydb'" in response.json()["error"]


def test_slow_plugin_does_not_stall_other_requests(plugin_dir: Path) -> None:
    write_plugins(plugin_dir)
    (plugin_dir / "slow.py").write_text(SLOW)
    with Engine(plugin_dir) as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "slow", plugin_filename="slow.py",
                              trigger_specification="request:slow",
                              trigger_settings={"run_async": True})
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        tokens = make_tokens(engine)
        headers = tokens.header("admin")
        with live_server(create_app(engine)) as url:
            results: list[httpx.Response] = []
            slow = threading.Thread(target=lambda: results.append(httpx.get(
                f"{url}{ENGINE}/slow", params={"seconds": "1.5"}, headers=headers,
                timeout=10)))
            slow.start()
            time.sleep(0.2)
            started = time.monotonic()
            assert httpx.get(f"{url}/health", timeout=5).status_code == 200
            fast = httpx.get(f"{url}{ENGINE}/hello", headers=headers, timeout=5)
            elapsed = time.monotonic() - started
            slow.join(10)
            assert fast.status_code == 200
            assert elapsed < 1.0
            assert results[0].text == "slept"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Content-Encoding": "gzip"}, 400), ({"Content-Encoding": "deflate"}, 415)],
    ids=["not-gzip", "unsupported-encoding"],
)
def test_malformed_body_is_refused_before_the_plugin(
        served: tuple[Engine, ApiClient, Tokens], headers: dict[str, str], status: int) -> None:
    engine, client, tokens = served
    response = client.post(f"{ENGINE}/hello", content=b"plain text",
                           headers={**headers, **tokens.header("admin")})
    assert response.status_code == status
    assert "error" in response.json()
    assert engine.observability.runs_for("mydb", "hello") == []


@pytest.mark.parametrize(("parts", "headers", "expected"), [
    ([b"chunk-1,", b"chunk-2,", b"", b"chunk-3"], {}, "chunk-1,chunk-2,chunk-3"),
    ([b"x" * 70_000, b"y" * 70_000], {}, "x" * 70_000 + "y" * 70_000),
    (list(_split(gzip.compress(b"zipped and chunked"), 4)), {"Content-Encoding": "gzip"},
     "zipped and chunked"),
], ids=["three-chunks", "large-chunks", "gzip-chunks"])
def test_a_chunked_post_reaches_the_plugin_intact(
        plugin_dir: Path, parts: list[bytes], headers: dict[str, str], expected: str) -> None:
    write_plugins(plugin_dir)
    with Engine(plugin_dir) as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        tokens = make_tokens(engine)
        with live_server(create_app(engine)) as url:
            request = httpx.Request("POST", f"{url}{ENGINE}/hello", content=iter(parts),
                                    headers={**headers, **tokens.header("write")})
            assert request.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in request.headers
            with httpx.Client(timeout=10) as client:
                response = client.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["body"] == expected


def test_a_request_without_length_or_chunking_is_served_without_reading_a_body(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, _, tokens = served
    app = create_app(engine)
    sent: list[Message] = []
    reads: list[int] = []

    async def receive() -> Message:
        reads.append(1)
        return {"type": "http.disconnect"}  # what reading would find: the request has no body

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": f"{ENGINE}/hello", "raw_path": b"",
             "root_path": "", "query_string": b"name=no-body", "server": ("test", 80),
             "client": ("127.0.0.1", 1234),
             "headers": [(b"authorization", tokens.header("write")["Authorization"].encode())]}
    asyncio.run(app(scope, receive, send))
    assert reads == []
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"hello": "no-body", "body": "", "args": {"a": "b"},
                                           "auth": False}


class _PassThrough:
    """A host's middleware: with one added, requests take Starlette's full stack."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.mark.parametrize("http_version", ["2", "3"], ids=["http2", "http3"])
@pytest.mark.parametrize("full_stack", [False, True], ids=["direct", "full-stack"])
def test_http2_and_3_bodies_without_a_length_reach_the_plugin(
        served: tuple[Engine, ApiClient, Tokens], http_version: str, full_stack: bool) -> None:
    engine, _, _ = served
    app = create_app(engine, auth=False)
    if full_stack:
        app.add_middleware(_PassThrough)
    sent: list[Message] = []
    messages: list[Message] = [{"type": "http.request", "body": b"framed ", "more_body": True},
                               {"type": "http.request", "body": b"body", "more_body": False}]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": http_version,
                    "method": "POST", "scheme": "https", "path": f"{ENGINE}/hello",
                    "raw_path": b"", "root_path": "", "query_string": b"", "headers": [],
                    "server": ("test", 443), "client": ("127.0.0.1", 1234)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["body"] == "framed body"
