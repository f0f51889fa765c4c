"""Specification of `processing-engine create token` (engine.cli.token, engine.cli.create)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import live_server

from engine.catalog import Catalog
from engine.cli import main
from engine.engine import Engine
from engine.http import create_app
from engine.tokens import Permission, TokenStore


def test_create_admin_token_prints_it_once_and_stores_only_its_hash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "token", "--admin", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("apiv3_")
    assert "shown only this once" in err
    assert token not in (tmp_path / "catalog.json").read_text()
    record = TokenStore(Catalog(tmp_path)).authenticate(token)
    assert record is not None and record.is_admin


@pytest.mark.parametrize(
    ("args", "permissions", "databases"),
    [
        (["-d", "db1", "--permission", "read"], (Permission.DB_READ,), ("db1",)),
        (["--database", "db1,db2", "--permission", "write"], (Permission.DB_WRITE,),
         ("db1", "db2")),
        (["-d", "db1", "--permission", "read", "--permission", "write"],
         (Permission.DB_READ, Permission.DB_WRITE), ("db1",)),
        (["-d", "*", "--permission", "read,write"], (Permission.DB_READ, Permission.DB_WRITE),
         ("*",)),
    ],
    ids=["read-one", "write-two", "both-repeated", "all-databases"],
)
def test_create_database_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], permissions: tuple[Permission, ...],
                               databases: tuple[str, ...]) -> None:
    assert main(["create", "token", *args, "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    record = TokenStore(Catalog(tmp_path)).authenticate(token)
    assert record is not None
    assert record.permissions == permissions
    assert record.databases == databases
    assert not record.is_admin


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "db1"], "--database needs --permission"),
        (["-d", "db1", "--permission", "delete"], "invalid token permission 'delete'"),
        (["-d", "bad name", "--permission", "read"], "invalid database name"),
        (["--admin", "--permission", "read"], "--permission applies to --database"),
    ],
    ids=["no-permission", "unknown-permission", "bad-database", "admin-with-permission"],
)
def test_bad_token_options_exit_2_and_create_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    assert main(["create", "token", *args, "--data-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert TokenStore(Catalog(tmp_path)).records() == []


def test_admin_or_database_is_required(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["create", "token", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2


@pytest.fixture
def server(plugin_dir: Path) -> Iterator[tuple[Engine, str, str]]:
    with Engine(plugin_dir) as engine:
        admin, _ = TokenStore(engine.catalog).create_admin_token()
        with live_server(create_app(engine)) as url:
            yield engine, url, admin


def test_create_token_on_a_running_server(server: tuple[Engine, str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, admin = server
    args = ["create", "token", "-d", "mydb", "--permission", "write", "--host", url,
            "--token", admin, "--name", "telegraf"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "'telegraf'" in err
    record = TokenStore(engine.catalog).authenticate(token)
    assert record is not None
    assert record.permissions == (Permission.DB_WRITE,)


@pytest.mark.parametrize(
    ("extra", "message"),
    [([], "--host needs an admin --token"), (["--token", "apiv3_wrong"], "answered 401")],
    ids=["no-token", "wrong-token"],
)
def test_create_token_on_a_server_needs_an_admin_token(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str) -> None:
    monkeypatch.delenv("INFLUXDB3_AUTH_TOKEN", raising=False)
    engine, url, _ = server
    before = TokenStore(engine.catalog).records()
    assert main(["create", "token", "--admin", "--host", url, *extra]) == 1
    assert message in capsys.readouterr().err
    assert TokenStore(engine.catalog).records() == before


def test_offline_creation_refuses_a_data_dir_in_use(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Engine(None, data_dir=tmp_path):
        assert main(["create", "token", "--admin", "--data-dir", str(tmp_path)]) == 2
    assert "in use by another engine" in capsys.readouterr().err
