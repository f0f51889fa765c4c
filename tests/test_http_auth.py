"""Specification of HTTP authentication and authorization (engine.http.auth over tokens)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_support import ApiClient, Tokens, served_engine

from engine.engine import Engine
from engine.errors import MalformedAuthorization
from engine.http.auth import token_from_authorization

TRIGGER = "/api/v3/configure/processing_engine_trigger"
SELECT = {"db": "mydb", "q": "SELECT 1"}

# id, method, path, request keyword arguments, what the caller needs:
# public, any (any valid token), admin, read / write (on mydb), request (read or write on mydb).
ROUTES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("health", "GET", "/health", {}, "public"),
    ("ping", "GET", "/ping", {}, "public"),
    ("openapi", "GET", "/api/v3/openapi.json", {}, "public"),
    ("trigger-create", "POST", TRIGGER, {"json": {
        "db": "mydb", "trigger_name": "new", "plugin_filename": "schedule.py",
        "trigger_specification": "every:5s"}}, "admin"),
    ("trigger-delete", "DELETE", TRIGGER, {"params": {"db": "mydb", "trigger_name": "t1"}},
     "admin"),
    ("trigger-enable", "POST", f"{TRIGGER}/enable",
     {"params": {"db": "mydb", "trigger_name": "t1"}}, "admin"),
    ("trigger-disable", "POST", f"{TRIGGER}/disable",
     {"params": {"db": "mydb", "trigger_name": "t1"}}, "admin"),
    ("engine-get", "GET", "/api/v3/engine/hello", {"params": {"name": "x"}}, "request"),
    ("engine-post", "POST", "/api/v3/engine/hello", {"content": b"hi"}, "request"),
    ("test-wal", "POST", "/api/v3/plugin_test/wal", {"json": {
        "filename": "wal.py", "database": "mydb", "input_lp": "cpu v=1"}}, "admin"),
    ("test-schedule", "POST", "/api/v3/plugin_test/schedule", {"json": {
        "filename": "schedule.py", "database": "mydb"}}, "admin"),
    ("test-request", "POST", "/api/v3/plugin_test/request", {"json": {
        "filename": "hello.py", "database": "mydb"}}, "admin"),
    ("files-create", "POST", "/api/v3/plugins/files", {"json": {
        "plugin_name": "new.py", "content": "x = 1\n"}}, "admin"),
    ("files-update", "PUT", "/api/v3/plugins/files", {"json": {
        "plugin_name": "t1", "content": "x = 1\n"}}, "admin"),
    ("directory-update", "PUT", "/api/v3/plugins/directory", {"json": {
        "plugin_name": "t1", "files": []}}, "admin"),
    ("install-packages", "POST", "/api/v3/configure/plugin_environment/install_packages",
     {"json": {"packages": []}}, "admin"),
    ("install-requirements", "POST",
     "/api/v3/configure/plugin_environment/install_requirements",
     {"json": {"requirements_location": "missing-requirements.txt"}}, "admin"),
    ("write-v3", "POST", "/api/v3/write_lp", {"params": {"db": "mydb"},
                                              "content": b"cpu v=1"}, "write"),
    ("write-v2", "POST", "/api/v2/write", {"params": {"bucket": "mydb"},
                                           "content": b"cpu v=1"}, "write"),
    ("write-v1", "POST", "/write", {"params": {"db": "mydb"}, "content": b"cpu v=1"}, "write"),
    ("query-get", "GET", "/api/v3/query_sql", {"params": SELECT}, "read"),
    ("query-post", "POST", "/api/v3/query_sql", {"json": SELECT}, "read"),
    ("databases-list", "GET", "/api/v3/configure/database", {}, "any"),
    ("database-create", "POST", "/api/v3/configure/database", {"json": {"db": "more"}},
     "admin"),
    ("database-delete", "DELETE", "/api/v3/configure/database", {"params": {"db": "mydb"}},
     "admin"),
    ("token-create", "POST", "/api/v3/configure/token", {"json": {"admin": True}}, "admin"),
]
CALLERS = ["none", "unknown", "read", "write", "other_db", "admin"]
_ALLOWED = {
    "public": set(CALLERS),
    "any": {"read", "write", "other_db", "admin"},
    "admin": {"admin"},
    "read": {"read", "admin"},
    "write": {"write", "admin"},
    "request": {"read", "write", "admin"},
}


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        engine = parts[0]
        engine.create_database("mydb")
        engine.create_trigger("mydb", "t1", plugin_filename="schedule.py",
                              trigger_specification="every:1h")
        engine.create_trigger("mydb", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello")
        yield parts


def _expected(need: str, caller: str) -> str:
    if caller in _ALLOWED[need]:
        return "allowed"
    return "401" if caller in ("none", "unknown") else "403"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "kwargs", "need"),
                         [route[1:] for route in ROUTES], ids=[route[0] for route in ROUTES])
def test_auth_matrix(served: tuple[Engine, ApiClient, Tokens], method: str, path: str,
                     kwargs: dict[str, Any], need: str, caller: str) -> None:
    _, client, tokens = served
    response = client.request(method, path, headers=tokens.header(caller), **kwargs)
    expected = _expected(need, caller)
    if expected == "allowed":
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500 or response.status_code == 501, response.text
    else:
        assert response.status_code == int(expected), response.text
        assert "error" in response.json()


def test_401_body_and_header(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, _ = served
    response = client.get("/api/v3/configure/database")
    assert response.status_code == 401
    assert response.json()["error"].startswith("the request was not authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_403_names_the_missing_permission(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.post("/api/v3/write_lp", params={"db": "mydb"}, content=b"cpu v=1",
                           headers=tokens.header("read"))
    assert response.status_code == 403
    assert response.json()["error"] == (
        "forbidden: this operation needs a token with db:write permission on database 'mydb'")


def test_refused_calls_change_nothing(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    before = [t.trigger_name for t in engine.list_triggers()]
    for caller in ("none", "unknown", "read", "write"):
        client.delete(TRIGGER, params={"db": "mydb", "trigger_name": "t1"},
                      headers=tokens.header(caller))
        client.delete("/api/v3/configure/database", params={"db": "mydb"},
                      headers=tokens.header(caller))
    assert [t.trigger_name for t in engine.list_triggers()] == before
    assert engine.list_databases() == ["mydb"]


def test_database_list_is_filtered_by_token(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    engine.create_database("other")
    engine.create_database("third")

    def names(caller: str) -> list[str]:
        response = client.get("/api/v3/configure/database", headers=tokens.header(caller))
        return [row["iox::database"] for row in response.json()]

    assert names("admin") == ["mydb", "other", "third"]
    assert names("read") == ["mydb"]
    assert names("write") == ["mydb"]
    assert names("other_db") == ["other"]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "scheme", ["Bearer", "Token", "bearer", "Basic"], ids=["bearer", "token", "lowercase",
                                                           "basic"])
def test_accepted_schemes(served: tuple[Engine, ApiClient, Tokens], scheme: str) -> None:
    _, client, tokens = served
    value = _basic("anyone", tokens.admin) if scheme == "Basic" else f"{scheme} {tokens.admin}"
    response = client.get("/api/v3/configure/database", headers={"Authorization": value})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer  two-spaces", "Bearer a b", "Digest abc", "tokenonly", "",
     "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
     "Basic " + base64.b64encode(b"user:").decode()],
    ids=["no-token", "double-space", "three-parts", "unknown-scheme", "one-part", "empty",
         "basic-bad-base64", "basic-no-colon", "basic-empty-password"],
)
def test_malformed_header_is_400(served: tuple[Engine, ApiClient, Tokens], value: str) -> None:
    _, client, _ = served
    response = client.get("/api/v3/configure/database", headers={"Authorization": value})
    assert response.status_code == 400
    assert "Authorization header was malformed" in response.json()["error"]
    with pytest.raises(MalformedAuthorization):
        token_from_authorization(value)


def test_v1_write_accepts_the_token_as_p(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    refused = client.post("/write", params={"db": "mydb", "p": tokens.read}, content=b"cpu v=1")
    assert refused.status_code == 403
    unknown = client.post("/write", params={"db": "mydb", "p": "nope"}, content=b"cpu v=1")
    assert unknown.status_code == 401
    other_route = client.get("/api/v3/configure/database", params={"p": tokens.admin})
    assert other_route.status_code == 401


def test_public_request_trigger_is_open_to_anyone(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, _ = served
    engine.create_trigger("mydb", "open", plugin_filename="hello.py",
                          trigger_specification="request:open/hook",
                          trigger_settings={"request_auth": "public"})
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "junk"}):
        response = client.post("/api/v3/engine/open/hook", content=b"{}", headers=headers)
        assert response.status_code not in (400, 401, 403), response.text
    closed = client.get("/api/v3/engine/hello")
    assert closed.status_code == 401


def test_disabled_public_trigger_is_not_open(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, _ = served
    engine.create_trigger("mydb", "open", plugin_filename="hello.py",
                          trigger_specification="request:open", disabled=True,
                          trigger_settings={"request_auth": "public"})
    assert client.get("/api/v3/engine/open").status_code == 401


def test_auth_off_lets_anyone_do_anything(plugin_dir: Path) -> None:
    with served_engine(plugin_dir, auth=False) as (engine, client, _):
        assert client.post("/api/v3/configure/database", json={"db": "x"}).status_code == 200
        assert engine.list_databases() == ["x"]
