"""Specification of the trigger configuration routes (engine.http.routes_triggers)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import ApiClient, Tokens, live_server, make_tokens, served_engine, write_plugins

from engine.engine import Engine
from engine.http import create_app

TRIGGER = "/api/v3/configure/processing_engine_trigger"


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        engine, _, _ = parts
        engine.create_database("mydb")
        yield parts


def _admin(tokens: Tokens) -> dict[str, str]:
    return tokens.header("admin")


def _create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "db": "mydb",
        "plugin_filename": "schedule.py",
        "trigger_name": "t1",
        "trigger_specification": "every:10s",
        "trigger_settings": {"run_async": False, "error_behavior": "log"},
        "trigger_arguments": {"k": "v"},
        "disabled": False,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"trigger_settings": json.dumps({"run_async": True, "error_behavior": "Retry"})},
        {"trigger_settings": ""},
        {"node_spec": {}},
        {"node_spec": "all"},
        {"trigger_arguments": None, "disabled": True},
        {"trigger_specification": "cron:0 0 6 * * 1-5"},
        {"trigger_specification": "request:hello", "plugin_filename": "hello.py"},
        {"trigger_specification": "table:cpu", "plugin_filename": "wal.py"},
    ],
    ids=["object-settings", "string-settings", "empty-settings", "empty-node-spec",
         "node-spec-all", "disabled-no-args", "cron", "request", "table"],
)
def test_create_trigger_stores_it(served: tuple[Engine, ApiClient, Tokens],
                                  overrides: dict[str, Any]) -> None:
    engine, client, tokens = served
    body = _create_body(**overrides)
    response = client.post(TRIGGER, json=body, headers=_admin(tokens))
    assert response.status_code == 200, response.text
    assert response.content == b""
    stored = engine.get_trigger("mydb", "t1")
    assert stored.plugin_filename == body["plugin_filename"]
    assert stored.disabled is body["disabled"]


def test_create_trigger_keeps_settings_and_arguments(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    body = _create_body(trigger_settings='{"run_async": true, "error_behavior": "DISABLE"}')
    assert client.post(TRIGGER, json=body, headers=_admin(tokens)).status_code == 200
    stored = engine.get_trigger("mydb", "t1")
    assert stored.trigger_settings.run_async is True
    assert str(stored.trigger_settings.error_behavior) == "disable"
    assert dict(stored.trigger_arguments or {}) == {"k": "v"}


def test_create_trigger_from_query_string(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    params = {"db": "mydb", "plugin_filename": "schedule.py", "trigger_name": "q1",
              "trigger_specification": "every:1m", "disabled": "true"}
    response = client.post(TRIGGER, params=params, headers=_admin(tokens))
    assert response.status_code == 200, response.text
    assert engine.get_trigger("mydb", "q1").disabled


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"trigger_specification": "every:0s"}, 400, "expected one of"),
        ({"trigger_specification": "nonsense"}, 400, "invalid trigger specification"),
        ({"trigger_settings": {"error_behavior": "explode"}}, 400, "error_behavior"),
        ({"trigger_settings": "{not json"}, 400, "trigger_settings"),
        ({"trigger_settings": {"surprise": 1}}, 400, "unknown key"),
        ({"trigger_arguments": {"k": 1}}, 400, "trigger_arguments"),
        ({"trigger_arguments": "k=v"}, 400, "trigger_arguments"),
        ({"disabled": "maybe"}, 400, "disabled"),
        ({"node_spec": 5}, 400, "node_spec"),
        ({"trigger_name": "bad name"}, 400, "invalid trigger name"),
        ({"trigger_name": ""}, 400, "trigger_name"),
        ({"db": None}, 400, "missing required field 'db'"),
        ({"plugin_filename": 7}, 400, "plugin_filename"),
        ({"plugin_filename": "../outside.py"}, 400, "plugin"),
        ({"plugin_filename": "/etc/passwd"}, 400, "plugin"),
        ({"plugin_filename": "missing.py"}, 404, "plugin not found"),
        ({"plugin_filename": "wal.py"}, 400, "process_scheduled_call"),
        ({"db": "nodb"}, 404, "database not found"),
    ],
    ids=["zero-interval", "unknown-kind", "bad-error-behavior", "settings-not-json",
         "settings-unknown-key", "argument-not-string", "arguments-not-object",
         "disabled-not-bool", "node-spec-number", "bad-trigger-name", "empty-trigger-name",
         "missing-db", "filename-not-string", "traversal", "absolute-path", "missing-plugin",
         "wrong-entry-point", "unknown-database"],
)
def test_create_trigger_rejects_bad_input_and_changes_nothing(
        served: tuple[Engine, ApiClient, Tokens], overrides: dict[str, Any], status: int,
        message: str) -> None:
    engine, client, tokens = served
    response = client.post(TRIGGER, json=_create_body(**overrides), headers=_admin(tokens))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert engine.list_triggers() == []


def test_create_duplicate_name_is_409(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    assert client.post(TRIGGER, json=_create_body(), headers=_admin(tokens)).status_code == 200
    again = client.post(TRIGGER, json=_create_body(trigger_specification="every:5s"),
                        headers=_admin(tokens))
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]
    assert engine.get_trigger("mydb", "t1").trigger_specification == "every:10s"


def test_create_duplicate_request_path_is_409(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    body = _create_body(trigger_specification="request:hello", plugin_filename="hello.py")
    assert client.post(TRIGGER, json=body, headers=_admin(tokens)).status_code == 200
    body["trigger_name"] = "t2"
    again = client.post(TRIGGER, json=body, headers=_admin(tokens))
    assert again.status_code == 409
    assert "request path" in again.json()["error"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "must be a JSON object"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"db=mydb", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "application/json"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "application/json"),
        (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}, 415, "gzip"),
    ],
    ids=["bad-json", "json-array", "not-utf8", "form-encoded", "text-plain", "brotli"],
)
def test_create_rejects_bad_bodies(served: tuple[Engine, ApiClient, Tokens], content: bytes,
                                   headers: dict[str, str], status: int, message: str) -> None:
    engine, client, tokens = served
    response = client.post(TRIGGER, content=content, headers={**headers, **_admin(tokens)})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert engine.list_triggers() == []


def test_create_rejects_oversized_body(plugin_dir: Path) -> None:
    with served_engine(plugin_dir, max_request_size=1024) as (engine, client, tokens):
        engine.create_database("mydb")
        body = _create_body(trigger_arguments={"big": "x" * 2000})
        response = client.post(TRIGGER, json=body, headers=_admin(tokens))
        assert response.status_code == 413
        assert "max request size (1024 bytes) exceeded" in response.json()["error"]
        assert engine.list_triggers() == []


@pytest.mark.parametrize("how", ["query", "json-body"], ids=["query", "json-body"])
def test_delete_trigger(served: tuple[Engine, ApiClient, Tokens], how: str) -> None:
    engine, client, tokens = served
    client.post(TRIGGER, json=_create_body(), headers=_admin(tokens))
    fields = {"db": "mydb", "trigger_name": "t1"}
    if how == "query":
        response = client.delete(TRIGGER, params=fields, headers=_admin(tokens))
    else:
        response = client.request("DELETE", TRIGGER, json=fields, headers=_admin(tokens))
    assert response.status_code == 200, response.text
    assert engine.list_triggers() == []


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"db": "mydb", "trigger_name": "nope"}, 404, "no trigger named 'nope'"),
        ({"db": "nodb", "trigger_name": "t1"}, 404, "database not found"),
        ({"db": "mydb"}, 400, "trigger_name"),
        ({"trigger_name": "t1"}, 400, "'db'"),
        ({"db": "mydb", "trigger_name": "t1", "force": "perhaps"}, 400, "force"),
    ],
    ids=["unknown-trigger", "unknown-db", "no-name", "no-db", "bad-force"],
)
def test_delete_errors(served: tuple[Engine, ApiClient, Tokens], params: dict[str, str],
                       status: int, message: str) -> None:
    engine, client, tokens = served
    client.post(TRIGGER, json=_create_body(), headers=_admin(tokens))
    response = client.delete(TRIGGER, params=params, headers=_admin(tokens))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert [t.trigger_name for t in engine.list_triggers()] == ["t1"]


def test_delete_with_force(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    client.post(TRIGGER, json=_create_body(), headers=_admin(tokens))
    response = client.delete(TRIGGER, params={"db": "mydb", "trigger_name": "t1",
                                              "force": "true"}, headers=_admin(tokens))
    assert response.status_code == 200
    assert engine.list_triggers() == []


def test_disable_then_enable(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    client.post(TRIGGER, json=_create_body(), headers=_admin(tokens))
    params = {"db": "mydb", "trigger_name": "t1"}
    for _ in range(2):  # idempotent, as in the reference
        assert client.post(f"{TRIGGER}/disable", params=params,
                           headers=_admin(tokens)).status_code == 200
        assert engine.get_trigger("mydb", "t1").disabled
    for _ in range(2):
        assert client.post(f"{TRIGGER}/enable", params=params,
                           headers=_admin(tokens)).status_code == 200
        assert not engine.get_trigger("mydb", "t1").disabled


@pytest.mark.parametrize("action", ["enable", "disable"], ids=["enable", "disable"])
def test_switch_unknown_trigger_is_404(served: tuple[Engine, ApiClient, Tokens],
                                       action: str) -> None:
    _, client, tokens = served
    response = client.post(f"{TRIGGER}/{action}", params={"db": "mydb", "trigger_name": "x"},
                           headers=_admin(tokens))
    assert response.status_code == 404
    assert "no trigger named 'x'" in response.json()["error"]


@pytest.mark.parametrize("action", ["enable", "disable"], ids=["enable", "disable"])
def test_switch_without_fields_is_400(served: tuple[Engine, ApiClient, Tokens],
                                      action: str) -> None:
    _, client, tokens = served
    response = client.post(f"{TRIGGER}/{action}", headers=_admin(tokens))
    assert response.status_code == 400
    assert "missing required field 'db'" in response.json()["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"], ids=["get", "put", "patch"])
def test_other_methods_are_405_json(served: tuple[Engine, ApiClient, Tokens],
                                    method: str) -> None:
    _, client, tokens = served
    response = client.request(method, TRIGGER, headers=_admin(tokens))
    assert response.status_code == 405
    assert f"method {method} not allowed" in response.json()["error"]


SLOW_REQUEST = (
    "import time\n"
    "def process_request(influxdb3_local, query_parameters, request_headers, request_body,\n"
    "                    args=None):\n"
    "    time.sleep(1.5)\n"
    "    return 'done'\n")


def test_delete_while_running_is_409_unless_forced(plugin_dir: Path) -> None:
    write_plugins(plugin_dir)
    (plugin_dir / "slow.py").write_text(SLOW_REQUEST)
    with Engine(plugin_dir) as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "slow", plugin_filename="slow.py",
                              trigger_specification="request:slow")
        headers = make_tokens(engine).header("admin")
        with live_server(create_app(engine)) as url:
            call = threading.Thread(target=lambda: httpx.get(f"{url}/api/v3/engine/slow",
                                                             headers=headers, timeout=10))
            call.start()
            deadline = time.monotonic() + 5
            while engine.in_flight("mydb", "slow") == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            params = {"db": "mydb", "trigger_name": "slow"}
            busy = httpx.delete(f"{url}{TRIGGER}", params=params, headers=headers)
            assert busy.status_code == 409, busy.text
            assert "running a plugin call" in busy.json()["error"]
            started = time.monotonic()
            forced = httpx.delete(f"{url}{TRIGGER}", params={**params, "force": "true"},
                                  headers=headers)
            assert forced.status_code == 200
            assert time.monotonic() - started < 0.5
            assert engine.list_triggers() == []
            call.join(10)
