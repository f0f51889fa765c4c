"""Specification of the CORS middleware (engine.http.cors): permissive, as InfluxDB 3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import ApiClient, Tokens, served_engine

from engine.engine import Engine


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        yield parts


@pytest.mark.parametrize("path", ["/api/v3/engine/anything", "/api/v3/write_lp", "/nowhere"],
                         ids=["engine", "write", "unknown"])
def test_preflight_is_204_before_auth(served: tuple[Engine, ApiClient, Tokens],
                                      path: str) -> None:
    _, client, _ = served
    response = client.request("OPTIONS", path, headers={
        "Origin": "https://dash.example", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "*"
    assert response.headers["access-control-allow-headers"] == "*"
    assert response.headers["access-control-max-age"] == "86400"


@pytest.mark.parametrize("who", ["none", "admin"], ids=["refused", "allowed"])
def test_every_response_allows_any_origin(served: tuple[Engine, ApiClient, Tokens],
                                          who: str) -> None:
    _, client, tokens = served
    response = client.get("/api/v3/configure/database", headers=tokens.header(who))
    assert response.status_code == (401 if who == "none" else 200)
    assert response.headers["access-control-allow-origin"] == "*"
