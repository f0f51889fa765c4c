"""Specification of token creation over HTTP (engine.http.routes_tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_support import ApiClient, Tokens, served_engine

from engine.engine import Engine
from engine.tokens import TokenStore

TOKEN = "/api/v3/configure/token"


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        yield parts


def test_admin_creates_a_database_token_that_works(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    response = client.post(TOKEN, json={"databases": ["mydb"], "permissions": ["write"],
                                        "name": "telegraf"}, headers=tokens.header("admin"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["name"] == "telegraf"
    assert answer["permissions"] == ["db:write"]
    assert answer["databases"] == ["mydb"]
    assert "token_hash" not in answer
    new = {"Authorization": f"Token {answer['token']}"}
    assert client.post("/api/v3/write_lp", params={"db": "mydb"}, content=b"m v=1",
                       headers=new).status_code == 204
    assert client.get("/api/v3/query_sql", params={"db": "mydb", "q": "SELECT 1"},
                      headers=new).status_code == 403
    stored = TokenStore(engine.catalog).records()
    assert answer["token"] not in str([r.to_dict() for r in stored])


def test_admin_creates_an_admin_token(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.post(TOKEN, json={"admin": True}, headers=tokens.header("admin"))
    assert response.status_code == 201
    assert response.json()["permissions"] == ["admin"]
    new = {"Authorization": f"Bearer {response.json()['token']}"}
    assert client.post("/api/v3/configure/database", json={"db": "x"},
                       headers=new).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'databases' must be a non-empty list"),
        ({"databases": ["a"]}, "'permissions' must be a non-empty list"),
        ({"databases": "a", "permissions": ["read"]}, "'databases'"),
        ({"databases": ["a"], "permissions": ["delete"]}, "invalid token permission"),
        ({"databases": ["a"], "permissions": ["admin"]}, "invalid token permission"),
        ({"databases": ["no good"], "permissions": ["read"]}, "invalid database name"),
        ({"admin": "yes please"}, "'admin' must be true or false"),
    ],
    ids=["empty", "no-permissions", "databases-string", "unknown-permission",
         "admin-as-db-permission", "bad-database", "admin-not-bool"],
)
def test_bad_token_requests_are_400_and_create_nothing(
        served: tuple[Engine, ApiClient, Tokens], body: dict[str, Any], message: str) -> None:
    engine, client, tokens = served
    before = len(TokenStore(engine.catalog).records())
    response = client.post(TOKEN, json=body, headers=tokens.header("admin"))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert len(TokenStore(engine.catalog).records()) == before


@pytest.mark.parametrize("caller", ["read", "write", "other_db"])
def test_only_admins_create_tokens(served: tuple[Engine, ApiClient, Tokens],
                                   caller: str) -> None:
    _, client, tokens = served
    response = client.post(TOKEN, json={"admin": True}, headers=tokens.header(caller))
    assert response.status_code == 403


def test_disabled_without_auth(plugin_dir: Path) -> None:
    with served_engine(plugin_dir, auth=False) as (engine, client, _):
        before = TokenStore(engine.catalog).records()
        response = client.post(TOKEN, json={"admin": True})
        assert response.status_code == 405
        assert response.json() == {"error": "endpoint disabled, started without auth"}
        assert TokenStore(engine.catalog).records() == before
