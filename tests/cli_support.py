"""Helpers for the command-line tests: run the CLI in-process, and a live server to point it at."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import Tokens, live_server, make_tokens, write_plugins

from engine.cli import main
from engine.engine import Engine

# What the CLI reads from the environment: the tests set them explicitly or not at all.
CLI_ENVIRONMENT = ("INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN", "INFLUXDB3_DATABASE_NAME",
                   "INFLUXDB3_DB_DIR")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `processing-engine ARGV...`; its exit status, stdout and stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def connection(url: str, token: str) -> list[str]:
    """The options pointing the CLI at a server with a token."""
    return ["--host", url, "--token", token]


def clear_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every variable the CLI would read (`CLI_ENVIRONMENT`)."""
    for name in CLI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def served(plugin_dir: Path) -> Iterator[tuple[Engine, str, Tokens]]:
    """A started engine with the test plugins and database `mydb`, served by a live uvicorn;
    yields it, its URL and its tokens."""
    from engine.http import create_app

    write_plugins(plugin_dir)
    with Engine(plugin_dir) as engine:
        engine.create_database("mydb")
        tokens = make_tokens(engine)
        with live_server(create_app(engine)) as url:
            yield engine, url, tokens
