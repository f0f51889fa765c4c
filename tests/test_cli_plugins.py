"""CLI `install package`, `update trigger`, `show plugins`: against a live server, and locally."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import connection, run
from http_support import live_server, make_tokens
from wheel_support import build_wheel

from engine.cli.plugins import CliFailure, plugin_folder_files, render_table
from engine.engine import Engine
from engine.plugin_env import PluginEnvironment
from engine.plugin_imports import PLUGIN_SITES

PACKAGE = "pe_clitest_pkg"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-wheels")
    build_wheel(folder, PACKAGE, "1.0", {f"{PACKAGE}/__init__.py": "VALUE = 'cli'\n"})
    return folder


@pytest.fixture
def server(plugin_dir: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch,
           ) -> Iterator[tuple[Engine, str, str]]:
    """A started engine serving HTTP with one schedule trigger; yields it, its URL, a token."""
    monkeypatch.delenv("PLUGIN_DIR", raising=False)
    for name in ("INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN", "INFLUXDB3_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)
    (plugin_dir / "tick.py").write_text("def process_scheduled_call(i, t, args=None):\n    pass\n")
    (plugin_dir / "pkg").mkdir()
    (plugin_dir / "pkg" / "__init__.py").write_text(
        "def process_scheduled_call(i, t, args=None):\n    pass\n")
    from engine.http import create_app

    # The environment lives outside the watched plugin directory: watchdog adds a watch per
    # folder, and a virtual environment has many (it even races creating them).
    venv = plugin_dir.parent / "venv"
    with Engine(plugin_dir, package_find_links=[str(wheels)],
                     virtual_env_location=str(venv)) as engine:
        engine.create_database("mydb")
        engine.create_trigger("mydb", "ticker", plugin_filename="tick.py",
                              trigger_specification="every:1h")
        engine.create_trigger("mydb", "packaged", plugin_filename="pkg",
                              trigger_specification="every:1h")
        token = make_tokens(engine).admin
        with live_server(create_app(engine)) as url:
            yield engine, url, token
        if engine.plugin_env.exists():
            PLUGIN_SITES.remove(engine.plugin_env.site_directories())




def test_install_package_installs_through_the_server(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, out, err = run(capsys, "install", "package", PACKAGE, *connection(url, token))

    assert (status, err) == (0, "")
    assert out == f"Successfully installed {PACKAGE}\n"
    assert (engine.plugin_env.site_packages() / PACKAGE / "__init__.py").is_file()


def test_install_requirements_installs_a_file_of_the_plugin_dir(
        server: tuple[Engine, str, str], plugin_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server
    (plugin_dir / "requirements.txt").write_text(f"{PACKAGE}==1.0\n")

    status, out, _ = run(capsys, "install", "package", "-r", "requirements.txt",
                         *connection(url, token))

    assert status == 0
    assert out == "Successfully installed requirements from requirements.txt\n"
    assert (engine.plugin_env.site_packages() / PACKAGE).is_dir()


def test_a_refused_install_reports_the_servers_message(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    engine, url, token = server

    status, out, err = run(capsys, "install", "package", *connection(url, token), "--",
                           "--index-url=https://evil.example")

    assert (status, out) == (1, "")
    assert err.startswith("error: the server answered 400: invalid package specification")
    assert not engine.plugin_env.exists()


def test_an_install_without_a_token_is_refused(
        server: tuple[Engine, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, url, _ = server

    status, _, err = run(capsys, "install", "package", PACKAGE, "--host", url)

    assert status == 1
    assert "the server answered 401" in err


def test_update_trigger_with_a_file_replaces_the_plugin_file(
        server: tuple[Engine, str, str], plugin_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url, token = server
    new = tmp_path / "tick_v2.py"
    new.write_text("def process_scheduled_call(i, t, args=None):\n    return 2\n")

    status, out, _ = run(capsys, "update", "trigger", "-d", "mydb", "-t", "ticker", "-p",
                         str(new), *connection(url, token))

    assert (status, out) == (0, "Trigger 'ticker' updated successfully\n")
    assert (plugin_dir / "tick.py").read_text() == new.read_text()


def test_update_trigger_with_a_folder_replaces_the_plugin_folder(
        server: tuple[Engine, str, str], plugin_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url, token = server
    folder = tmp_path / "pkg_v2"
    (folder / "lib").mkdir(parents=True)
    (folder / "__init__.py").write_text("from .lib.helper import process_scheduled_call\n")
    (folder / "lib" / "helper.py").write_text(
        "def process_scheduled_call(i, t, a=None):\n    pass\n")
    (folder / "manifest.toml").write_text('manifest_schema_version = "1.0"\n')

    status, out, _ = run(capsys, "update", "trigger", "-t", "packaged", "-p", str(folder),
                         *connection(url, token))

    assert status == 0
    assert out == "Trigger 'packaged' updated successfully (atomic directory replacement)\n"
    assert sorted(p.relative_to(plugin_dir / "pkg").as_posix()
                  for p in (plugin_dir / "pkg").rglob("*") if p.is_file()) == [
        "__init__.py", "lib/helper.py", "manifest.toml"]


@pytest.mark.parametrize(("trigger", "path", "message"), [
    ("nobody", "tick.py", "the server answered 404: plugin not found: 'nobody'"),
    ("ticker", "missing.py", "File not found:"),
], ids=["unknown-trigger", "missing-file"])
def test_update_trigger_failures_are_reported(
        server: tuple[Engine, str, str], plugin_dir: Path, trigger: str, path: str,
        message: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, url, token = server

    status, _, err = run(capsys, "update", "trigger", "-t", trigger, "-p",
                         str(plugin_dir / path), *connection(url, token))

    assert status == 1
    assert message in err


def test_show_plugins_lists_every_triggers_files(
        server: tuple[Engine, str, str], plugin_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url, token = server

    status, out, _ = run(capsys, "show", "plugins", "--format", "json", *connection(url, token))
    pretty_status, pretty, _ = run(capsys, "show", "plugins", *connection(url, token))

    assert status == pretty_status == 0
    rows = sorted((row["plugin_name"], row["file_name"]) for row in json.loads(out))
    assert rows == [("packaged", "__init__.py"), ("ticker", "tick.py")]
    assert pretty.splitlines()[0].split() == ["plugin_name", "file_name", "file_path",
                                              "size_bytes", "last_modified"]
    assert str(plugin_dir / "tick.py") in pretty


def test_an_unreachable_server_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    from http_support import free_port

    status, _, err = run(capsys, "show", "plugins", "--host", f"http://127.0.0.1:{free_port()}")

    assert status == 1
    assert "cannot reach the server" in err


@pytest.mark.parametrize("argv", [["install", "package"],
                                  ["install", "package", "x", "-r", "requirements.txt"]],
                         ids=["neither", "both"])
def test_install_needs_packages_or_a_requirements_file(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, *argv)

    assert status == 2
    assert "give either PACKAGE names or -r/--requirements PATH" in err


def test_install_into_a_local_plugin_dir_needs_no_server(
        plugin_dir: Path, wheels: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "install", "package", PACKAGE, "--plugin-dir", str(plugin_dir),
                         "--find-links", str(wheels))

    environment = PluginEnvironment(plugin_dir)
    try:
        assert status == 0
        assert out.endswith(f"Successfully installed {PACKAGE}\n")
        assert (environment.site_packages() / PACKAGE / "__init__.py").is_file()
    finally:
        PLUGIN_SITES.remove(environment.site_directories())
        sys.modules.pop(PACKAGE, None)


def test_a_local_install_refuses_injections_before_anything_runs(
        plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "install", "package", "git+https://example.com/x",
                         "--plugin-dir", str(plugin_dir))

    assert status == 1
    assert "invalid package specification" in err
    assert not (plugin_dir / ".venv").exists()


def test_a_plugin_folder_upload_skips_caches_hidden_and_compiled_files(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    for relative in ("__init__.py", "util/x.py", "config.json", "__pycache__/a.pyc",
                     ".git/config", ".hidden.py", "util/y.pyc"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(relative)

    assert [entry["relative_path"] for entry in plugin_folder_files(folder)] == [
        "__init__.py", "config.json", "util/x.py"]


@pytest.mark.parametrize(("files", "message"), [
    ({"x.py": b""}, "has no __init__.py"),
    ({"__init__.py": b"", "blob.bin": b"\xff\xfe"}, "is not UTF-8"),
], ids=["no-init", "binary-file"])
def test_a_plugin_folder_that_cannot_be_uploaded_is_refused(
        tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    with pytest.raises(CliFailure, match=message):
        plugin_folder_files(tmp_path)


def test_render_table_pads_columns() -> None:
    rows = [{"a": "x", "b": 12345}, {"a": "longer", "b": 1}]

    assert render_table(rows, ("a", "b")) == (
        "a       b\n------  -----\nx       12345\nlonger  1")
