"""Fuzzing the HTTP routes: every bad request gets a JSON 4xx; no 5xx but plugin failures.

Two generators over the same served engine (admin token, installs disabled so no package is
ever fetched): hypothesis builds the request bodies and query strings of every route of the
app (JSON objects with the route's own fields holding any JSON value, arbitrary JSON, bytes
that are not JSON, wrong content types, gzip that is not gzip), and schemathesis generates
requests from `/api/v3/openapi.json` (and checks each answer's status, content type and body
against the document). A 5xx is allowed only under `/api/v3/engine/`, where a failing plugin
answers 500.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from http_support import ApiClient, api_client, make_tokens, write_plugins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from engine.engine import Engine
from engine.http import create_app
from engine.http.openapi import openapi_document

ENGINE_PREFIX = "/api/v3/engine/"
FAILING_PLUGIN = (
    "def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
    "                    args=None):\n"
    "    raise RuntimeError('this plugin always fails')\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """A started engine with the test plugins and triggers, its app and admin headers."""
    plugin_dir = write_plugins(tmp_path_factory.mktemp("plugins"))
    (plugin_dir / "boom.py").write_text(FAILING_PLUGIN)
    with Engine(plugin_dir, package_manager="disabled") as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        engine.create_trigger("mydb", "boom", plugin_filename="boom.py",
                              trigger_specification="request:boom")
        engine.create_trigger("mydb", "fails_always", plugin_filename="boom.py",
                              trigger_specification="request:fails_always")
        engine.write_lp("mydb", "cpu,host=a usage=1.5 1\n")
        tokens = make_tokens(engine)
        yield create_app(engine, auth=True, max_request_size=64 * 1024), tokens.header("admin")


@pytest.fixture(scope="module")
def client(served: tuple[Any, dict[str, str]]) -> Iterator[ApiClient]:
    app, _ = served
    with api_client(app) as opened:
        yield opened


def check_answer(method: str, path: str, status: int, content: bytes) -> None:
    """The fuzzing oracle: no 5xx outside the request triggers, and JSON error bodies."""
    where = f"{method} {path} -> {status} {content[:300]!r}"
    if not path.startswith(ENGINE_PREFIX):
        assert status < 500, where
    if status >= 400:
        body = json.loads(content)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), where
        assert body["error"], where


# -- hypothesis over every route --------------------------------------------------------------


def _operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, field names) of every route of the app; fields from the OpenAPI doc."""
    document = openapi_document()["paths"]
    app = create_app(Engine(background=False), auth=False)
    found = []
    for route in app.routes:
        assert isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            doc_path = route.path.replace("{path:path}", "{path}")
            found.append((method, route.path, _fields(document.get(doc_path, {}).get(
                method.lower(), {}))))
    return found


def _fields(operation: dict[str, Any]) -> list[str]:
    names = [param["name"] for param in operation.get("parameters", [])]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    names.extend(body.get("schema", {}).get("properties", {}))
    return names or ["db"]


OPERATIONS = _operations()
_NAMES = st.sampled_from(["mydb", "nodb", "hello", "boom", "hello.py", "wal.py", "schedule.py",
                          "boom.py", "every:1s", "all_tables", "request:x", "cron:* * * * * *",
                          "table:cpu", "../escape.py", "/etc/passwd", "", " ", "\x00", "é",
                          "a" * 300, "true", "false", "1", "{}", "json", "csv", "parquet",
                          "SELECT * FROM cpu", "SELECT 1/0", "cpu v=1 1"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                     _NAMES)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8) | _NAMES, inner, max_size=3),
                     max_leaves=8)


@st.composite
def requests(draw: st.DrawFn, fields: list[str]) -> dict[str, Any]:
    """Keyword arguments of one `ApiClient.request`: query string, body, headers."""
    query = draw(st.dictionaries(st.sampled_from(fields) | st.text(max_size=6),
                                 _NAMES | st.text(max_size=20), max_size=4))
    shape = draw(st.sampled_from(["fields", "json", "bytes", "gzip", "none"]))
    headers: dict[str, str] = {}
    content: bytes = b""
    if shape == "fields":
        content = json.dumps(draw(st.dictionaries(st.sampled_from(fields), _JSON,
                                                  max_size=len(fields)))).encode()
    elif shape == "json":
        content = json.dumps(draw(_JSON)).encode()
    elif shape == "bytes":
        content = draw(st.binary(max_size=100))
    elif shape == "gzip":
        content = draw(st.binary(max_size=50) | st.just(gzip.compress(b"cpu v=1 1")))
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = draw(st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "a/b"]))
    return {"params": query, "content": content, "headers": headers}


def test_every_route_is_fuzzed_and_the_oracle_catches_plugin_failures(
        client: ApiClient, served: tuple[Any, dict[str, str]]) -> None:
    _, admin = served
    assert len(OPERATIONS) >= 20
    failed = client.get(f"{ENGINE_PREFIX}fails_always", headers=admin)
    assert failed.status_code == 500
    check_answer("GET", f"{ENGINE_PREFIX}fails_always", failed.status_code, failed.content)
    with pytest.raises(AssertionError):
        check_answer("GET", "/api/v3/query_sql", failed.status_code, failed.content)


@pytest.mark.parametrize(("method", "path", "fields"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_route_answers_any_request_with_4xx_json_or_success(
        client: ApiClient, served: tuple[Any, dict[str, str]], method: str, path: str,
        fields: list[str]) -> None:
    _, admin = served

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request=requests(fields), tail=_NAMES | st.text(max_size=10))
    def fuzz(request: dict[str, Any], tail: str) -> None:
        url = path.replace("{path:path}", quote(tail, safe="") or "x")
        response = client.request(method, url, params=request["params"],
                                  content=request["content"],
                                  headers={**admin, **request["headers"]})
        check_answer(method, url, response.status_code, response.content)

    fuzz()


# -- schemathesis from the OpenAPI document ---------------------------------------------------

# Loaded from the document the app serves (checked equal below), not through the app: the lazy
# `schemathesis.pytest.from_fixture` loader breaks on pytest 9.2 (it sets `Function._nodeid`).
schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_schema_fuzzed_is_the_one_served(client: ApiClient) -> None:
    assert client.get("/api/v3/openapi.json").json() == openapi_document()


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_operations_never_fail_on_the_server(case: Any,
                                                     served: tuple[Any, dict[str, str]]) -> None:
    app, admin = served
    response = case.call(app=app, headers=dict(admin))  # schemathesis adds to the dict it gets
    path = case.formatted_path
    # Answers follow the document: documented statuses, content types and body schemas.
    conformance = [status_code_conformance, content_type_conformance, response_schema_conformance]
    if not path.startswith(ENGINE_PREFIX):
        conformance.append(not_a_server_error)
    case.validate_response(response, checks=conformance)
    check_answer(case.method, path, response.status_code, response.content)
