"""Specification of the OpenAPI document (engine.http.openapi) and the system routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import ApiClient, Tokens, served_engine
from starlette.routing import Route

from engine import __version__
from engine.engine import Engine
from engine.errors import InvalidServerOption
from engine.http import all_routes, create_app
from engine.http.context import EdgeContext
from engine.http.openapi import openapi_document


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        yield parts


def _app_operations(engine: Engine) -> set[tuple[str, str]]:
    operations = set()
    for route in all_routes(EdgeContext(engine=engine, tokens=None)):
        assert isinstance(route, Route)
        path = route.path.replace("{path:path}", "{path}")
        for method in route.methods or ():
            if method != "HEAD":
                operations.add((method.lower(), path))
    return operations


def test_document_describes_exactly_the_routes(plugin_dir: Path) -> None:
    document = openapi_document()
    documented = {(method, path) for path, item in document["paths"].items()
                  for method in item}
    with Engine(plugin_dir) as engine:
        assert documented == _app_operations(engine)


def test_every_json_operation_has_a_request_schema_with_required_fields() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None or "application/json" not in body["content"]:
                continue
            schema = body["content"]["application/json"]["schema"]
            assert schema["type"] == "object", (method, path)
            assert set(schema["required"]) <= set(schema["properties"]), (method, path)


def test_every_operation_documents_its_errors_as_json() -> None:
    document = openapi_document()
    error = document["components"]["responses"]["Error"]
    assert error["content"]["application/json"]["schema"]["required"] == ["error"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            public = operation.get("security") == []
            assert public or "401" in statuses, (method, path)


def test_openapi_route_serves_the_document_without_a_token(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, _ = served
    response = client.get("/api/v3/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi_document()
    assert response.json()["openapi"].startswith("3.")


def test_health_and_ping_need_no_token(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, _ = served
    health = client.get("/health")
    assert (health.status_code, health.text) == (200, "OK")
    ping = client.get("/ping")
    assert ping.status_code == 200
    assert ping.json()["version"] == __version__
    assert ping.headers["x-influxdb-version"] == __version__


def test_unknown_path_is_404_json(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get("/api/v3/nothing-here", headers=tokens.header("admin"))
    assert response.status_code == 404
    assert response.json() == {"error": "not found: no route for /api/v3/nothing-here"}


def test_app_mounts_inside_a_host_app(plugin_dir: Path) -> None:
    from http_support import api_client
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("host")

    with Engine(plugin_dir) as engine:
        inner = create_app(engine, auth=False)
        host = Starlette(routes=[Route("/", home), Mount("/influx", app=inner)])
        with api_client(host) as client:
            assert client.get("/").text == "host"
            assert client.get("/influx/health").text == "OK"
            created = client.post("/influx/api/v3/configure/database", json={"db": "m"})
            assert created.status_code == 200
            assert engine.list_databases() == ["m"]
            missing = client.get("/influx/api/v3/nothing")
            assert missing.status_code == 404
            assert missing.json()["error"].startswith("not found")


def test_mounted_app_checks_tokens_on_its_own_paths(plugin_dir: Path) -> None:
    from http_support import api_client, make_tokens
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with Engine(plugin_dir) as engine:
        tokens = make_tokens(engine)
        host = Starlette(routes=[Mount("/influx", app=create_app(engine))])
        with api_client(host) as client:
            assert client.get("/influx/health").status_code == 200
            assert client.get("/influx/api/v3/configure/database").status_code == 401
            allowed = client.get("/influx/api/v3/configure/database",
                                 headers=tokens.header("admin"))
            assert allowed.status_code == 200


@pytest.mark.parametrize("size", [0, -1, 1.5, True], ids=["zero", "negative", "float", "bool"])
def test_create_app_refuses_a_bad_size_limit(plugin_dir: Path, size: object) -> None:
    with Engine(plugin_dir) as engine, pytest.raises(InvalidServerOption,
                                                    match="max_request_size"):
        create_app(engine, max_request_size=size)  # type: ignore[arg-type]
