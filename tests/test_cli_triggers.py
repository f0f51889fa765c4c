"""CLI `create|enable|disable|delete trigger` against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import clear_cli_environment, connection, run, served

from engine.catalog import TriggerDefinition
from engine.engine import Engine
from engine.errors import EngineError
from engine.settings import ErrorBehavior


@pytest.fixture
def server(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch,
           ) -> Iterator[tuple[Engine, str, str]]:
    """A started engine with database `mydb` serving HTTP; yields it, its URL, an admin token."""
    clear_cli_environment(monkeypatch)
    with served(plugin_dir) as (engine, url, tokens):
        yield engine, url, tokens.admin


def trigger_or_none(engine: Engine, name: str) -> TriggerDefinition | None:
    try:
        return engine.get_trigger("mydb", name)
    except EngineError:
        return None


@pytest.mark.parametrize("source", ["--path", "--plugin-filename"], ids=["path", "plugin-filename"])
def test_create_trigger_sends_every_option(
        server: tuple[Engine, str, str], source: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, out, err = run(capsys, "create", "trigger", "tick", "-d", "mydb", source,
                           "schedule.py", "--trigger-spec", "every:60m",
                           "--trigger-arguments", "a=1,b=x=y", "--run-asynchronous",
                           "--error-behavior", "retry", "--disabled", *connection(url, token))

    assert (status, out, err) == (0, "Trigger tick created successfully\n", "")
    trigger = engine.get_trigger("mydb", "tick")
    assert trigger.plugin_filename == "schedule.py"
    assert trigger.trigger_specification == "every:1h"
    assert dict(trigger.trigger_arguments or {}) == {"a": "1", "b": "x=y"}
    assert trigger.trigger_settings.run_async is True
    assert trigger.trigger_settings.error_behavior == ErrorBehavior.RETRY
    assert trigger.disabled is True


def test_create_trigger_defaults_and_json_output(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, out, _ = run(capsys, "create", "trigger", "tick", "-d", "mydb", "--path",
                         "schedule.py", "--trigger-spec", "every:60m", "--format", "json",
                         *connection(url, token))

    assert status == 0
    assert json.loads(out) == {"trigger_name": "tick", "database": "mydb", "status": "created",
                               "plugin_filename": "schedule.py",
                               "trigger_specification": "every:1h"}
    trigger = engine.get_trigger("mydb", "tick")
    assert trigger.trigger_arguments is None
    assert trigger.trigger_settings.run_async is False
    assert trigger.trigger_settings.error_behavior == ErrorBehavior.LOG
    assert trigger.disabled is False


@pytest.mark.parametrize(("options", "message"), [
    (["-d", "mydb", "--trigger-spec", "nope"], "invalid trigger specification 'nope'"),
    (["-d", "mydb", "--trigger-spec", "every:1h", "--trigger-arguments", "novalue"],
     "trigger argument 'novalue' must be formatted as \"key=value\""),
    (["-d", "mydb", "--trigger-spec", "every:1h", "--trigger-arguments", "=v"],
     "trigger argument '=v' must be formatted"),
    (["--trigger-spec", "every:1h"],
     "a database is needed: -d/--database or INFLUXDB3_DATABASE_NAME"),
], ids=["bad-spec", "argument-without-value", "argument-without-key", "no-database"])
def test_bad_create_inputs_are_usage_errors_that_change_nothing(
        server: tuple[Engine, str, str], options: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, out, err = run(capsys, "create", "trigger", "tick", "--path", "schedule.py",
                           *options, *connection(url, token))

    assert (status, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err
    assert trigger_or_none(engine, "tick") is None


@pytest.mark.parametrize(("name", "plugin", "message"), [
    ("tick", "missing.py", "the server answered 404: plugin not found: 'missing.py'"),
    ("existing", "schedule.py",
     "the server answered 409: a trigger named 'existing' already exists in database 'mydb'"),
], ids=["unknown-plugin-file", "duplicate-trigger"])
def test_a_server_refusal_is_reported_with_its_message(
        server: tuple[Engine, str, str], name: str, plugin: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    engine.create_trigger("mydb", "existing", plugin_filename="wal.py",
                          trigger_specification="all_tables")

    status, out, err = run(capsys, "create", "trigger", name, "-d", "mydb", "--path", plugin,
                           "--trigger-spec", "every:1h", *connection(url, token))

    assert (status, out) == (1, "")
    assert err.startswith(f"error: {message}")
    existing = engine.get_trigger("mydb", "existing")
    assert existing.plugin_filename == "wal.py"
    assert trigger_or_none(engine, "tick") is None


def test_upload_sends_a_local_file_that_the_trigger_then_runs(
        server: tuple[Engine, str, str], plugin_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    local = tmp_path / "elsewhere" / "greet.py"
    local.parent.mkdir()
    local.write_text("def process_request(influxdb3_local, query_parameters, request_headers,\n"
                     "                    request_body, args=None):\n"
                     "    return {'greeting': args['word']}\n")

    status, out, _ = run(capsys, "create", "trigger", "greeter", "-d", "mydb", "--upload",
                         "--path", str(local), "--trigger-spec", "request:greet",
                         "--trigger-arguments", "word=hi", *connection(url, token))

    assert (status, out) == (0, "Trigger greeter created successfully\n")
    assert (plugin_dir / "greet.py").read_text() == local.read_text()
    assert engine.get_trigger("mydb", "greeter").plugin_filename == "greet.py"
    response = engine.handle_request("greet")
    assert response.status == 200
    assert json.loads(response.body) == {"greeting": "hi"}


def test_upload_sends_a_local_folder_as_a_package_plugin(
        server: tuple[Engine, str, str], plugin_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    folder = tmp_path / "greetpkg"
    (folder / "lib").mkdir(parents=True)
    (folder / "__init__.py").write_text("from .lib.impl import process_request\n")
    (folder / "lib" / "impl.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers,\n"
        "                    request_body, args=None):\n"
        "    return {'from': 'package'}\n")

    status, out, _ = run(capsys, "create", "trigger", "pkgreq", "-d", "mydb", "--upload",
                         "--path", str(folder), "--trigger-spec", "request:pkg",
                         *connection(url, token))

    assert (status, out) == (0, "Trigger pkgreq created successfully\n")
    assert (plugin_dir / "greetpkg" / "lib" / "impl.py").is_file()
    assert engine.get_trigger("mydb", "pkgreq").plugin_filename == "greetpkg"
    response = engine.handle_request("pkg")
    assert json.loads(response.body) == {"from": "package"}


def test_upload_of_a_missing_local_file_fails_before_creating(
        server: tuple[Engine, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, _, err = run(capsys, "create", "trigger", "tick", "-d", "mydb", "--upload",
                         "--path", str(tmp_path / "absent.py"), "--trigger-spec", "every:1h",
                         *connection(url, token))

    assert status == 1
    assert "File not found:" in err
    assert trigger_or_none(engine, "tick") is None


@pytest.mark.parametrize("database_from", ["option", "environment"], ids=["option", "env"])
def test_disable_enable_and_delete_a_trigger(
        server: tuple[Engine, str, str], database_from: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    engine.create_trigger("mydb", "tick", plugin_filename="schedule.py",
                          trigger_specification="every:1h")
    if database_from == "environment":
        database: list[str] = []
        monkeypatch.setenv("INFLUXDB3_DATABASE_NAME", "mydb")
    else:
        database = ["-d", "mydb"]

    disabled = run(capsys, "disable", "trigger", "tick", *database, *connection(url, token))
    assert disabled == (0, "Trigger tick disabled successfully\n", "")
    assert engine.get_trigger("mydb", "tick").disabled is True

    enabled = run(capsys, "enable", "trigger", "tick", *database, *connection(url, token))
    assert enabled == (0, "Trigger tick enabled successfully\n", "")
    assert engine.get_trigger("mydb", "tick").disabled is False

    deleted = run(capsys, "delete", "trigger", "tick", "--force", *database,
                  *connection(url, token))
    assert deleted == (0, "Trigger tick deleted successfully\n", "")
    assert trigger_or_none(engine, "tick") is None


@pytest.mark.parametrize("verb", ["delete", "enable", "disable"])
def test_an_unknown_trigger_is_reported(
        server: tuple[Engine, str, str], verb: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url, token = server

    status, out, err = run(capsys, verb, "trigger", "nobody", "-d", "mydb",
                           *connection(url, token))

    assert (status, out) == (1, "")
    assert err == "error: the server answered 404: no trigger named 'nobody' in database 'mydb'\n"


def test_host_and_token_come_from_the_environment(
        server: tuple[Engine, str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    monkeypatch.setenv("INFLUXDB3_HOST_URL", url)
    monkeypatch.setenv("INFLUXDB3_AUTH_TOKEN", token)

    status, out, _ = run(capsys, "create", "trigger", "tick", "-d", "mydb", "--path",
                         "schedule.py", "--trigger-spec", "every:1h", "--format", "json")

    assert status == 0
    assert json.loads(out)["status"] == "created"
    assert engine.get_trigger("mydb", "tick").plugin_filename == "schedule.py"


def test_a_create_without_a_token_is_refused(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, _ = server

    status, _, err = run(capsys, "create", "trigger", "tick", "-d", "mydb", "--path",
                         "schedule.py", "--trigger-spec", "every:1h", "--host", url)

    assert status == 1
    assert "the server answered 401" in err
    assert trigger_or_none(engine, "tick") is None
