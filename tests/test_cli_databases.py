"""CLI `create|delete database` and `show databases` against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import clear_cli_environment, run, served
from http_support import Tokens

from engine.engine import Engine


@pytest.fixture
def server(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch,
           ) -> Iterator[tuple[Engine, str, Tokens]]:
    """A started engine with database `mydb` serving HTTP; yields it, its URL, its tokens."""
    clear_cli_environment(monkeypatch)
    with served(plugin_dir) as parts:
        yield parts


@pytest.mark.parametrize(("output", "expected"), [
    ("pretty", "Database 'newdb' created successfully\n"),
    ("json", '{"database": "newdb", "status": "created"}\n'),
], ids=["pretty", "json"])
def test_create_database(server: tuple[Engine, str, Tokens], output: str, expected: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, tokens = server

    status, out, err = run(capsys, "create", "database", "newdb", "--format", output,
                           "--host", url, "--token", tokens.admin)

    assert (status, out, err) == (0, expected, "")
    assert "newdb" in engine.list_databases()


def test_show_databases_as_a_table_and_as_json(
        server: tuple[Engine, str, Tokens], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, tokens = server
    engine.create_database("second")
    connection = ["--host", url, "--token", tokens.admin]

    status, pretty, _ = run(capsys, "show", "databases", *connection)
    json_status, raw, _ = run(capsys, "show", "databases", "--format", "json", *connection)

    assert status == json_status == 0
    lines = pretty.splitlines()
    assert lines[0].strip() == "iox::database"
    assert sorted(line.strip() for line in lines[2:]) == ["mydb", "second"]
    assert sorted(json.loads(raw), key=str) == [{"iox::database": "mydb"},
                                                {"iox::database": "second"}]


def test_delete_database_removes_it(
        server: tuple[Engine, str, Tokens], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, tokens = server

    status, out, err = run(capsys, "delete", "database", "mydb", "--host", url,
                           "--token", tokens.admin)

    assert (status, out, err) == (0, "Database 'mydb' deleted successfully\n", "")
    assert "mydb" not in engine.list_databases()


@pytest.mark.parametrize(("argv", "who", "message"), [
    (["delete", "database", "nodb"], "admin",
     "error: the server answered 404: database not found: 'nodb'"),
    (["create", "database", "bad name!"], "admin",
     "error: the server answered 400: invalid database name 'bad name!'"),
    (["create", "database", "newdb"], "read",
     "error: the server answered 403: forbidden: this operation needs a token with admin "
     "permission"),
    (["delete", "database", "mydb"], "read",
     "error: the server answered 403: forbidden: this operation needs a token with admin "
     "permission"),
    (["create", "database", "newdb"], "none", "error: the server answered 401"),
], ids=["delete-unknown", "invalid-name", "create-with-read-token", "delete-with-read-token",
        "no-token"])
def test_refusals_are_reported_and_change_nothing(
        server: tuple[Engine, str, Tokens], argv: list[str], who: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, tokens = server
    token = [] if who == "none" else ["--token", getattr(tokens, who)]

    status, out, err = run(capsys, *argv, "--host", url, *token)

    assert (status, out) == (1, "")
    assert err.startswith(message)
    assert engine.list_databases() == ["mydb"]


def test_host_and_token_come_from_the_environment(
        server: tuple[Engine, str, Tokens], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, tokens = server
    monkeypatch.setenv("INFLUXDB3_HOST_URL", url)
    monkeypatch.setenv("INFLUXDB3_AUTH_TOKEN", tokens.admin)

    created = run(capsys, "create", "database", "fromenv")
    shown = run(capsys, "show", "databases", "--format", "json")

    assert created == (0, "Database 'fromenv' created successfully\n", "")
    assert shown[0] == 0
    assert {"iox::database": "fromenv"} in json.loads(shown[1])
    assert "fromenv" in engine.list_databases()
