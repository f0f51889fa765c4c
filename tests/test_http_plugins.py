"""Specification of the plugin routes (engine.http.routes_plugins): dry runs, files, packages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from http_support import ApiClient, Tokens, api_client, make_tokens, write_plugins

from engine.engine import Engine
from engine.http import create_app

PLUGIN_ROUTES: list[tuple[str, str, str, dict[str, Any], str, tuple[Any, ...], dict[str, Any]]] = [
    ("test-wal", "POST", "/api/v3/plugin_test/wal",
     {"filename": "wal.py", "database": "mydb", "input_lp": "cpu v=1",
      "input_arguments": {"k": "v"}, "cache_name": "c"},
     "test_wal_plugin", ("wal.py",),
     {"database": "mydb", "input_lp": "cpu v=1", "input_arguments": {"k": "v"},
      "cache_name": "c"}),
    ("test-schedule", "POST", "/api/v3/plugin_test/schedule",
     {"filename": "schedule.py", "database": "mydb", "schedule": "*/5 * * * * *"},
     "test_schedule_plugin", ("schedule.py",),
     {"database": "mydb", "schedule": "*/5 * * * * *", "input_arguments": None,
      "cache_name": None}),
    ("test-request", "POST", "/api/v3/plugin_test/request",
     {"filename": "hello.py", "database": "mydb", "query_parameters": {"name": "x"},
      "request_headers": {"X-A": "1"}, "request_body": "hi"},
     "test_request_plugin", ("hello.py",),
     {"database": "mydb", "query_parameters": {"name": "x"}, "request_headers": {"X-A": "1"},
      "request_body": "hi", "input_arguments": None, "cache_name": None}),
    ("files-create", "POST", "/api/v3/plugins/files",
     {"plugin_name": "dir/new.py", "content": "x = 1\n"},
     "create_plugin_file", ("dir/new.py", "x = 1\n"), {}),
    ("files-update", "PUT", "/api/v3/plugins/files",
     {"plugin_name": "t1", "content": ""},
     "update_plugin_file", ("t1", ""), {}),
    ("directory-update", "PUT", "/api/v3/plugins/directory",
     {"plugin_name": "t1", "files": [{"relative_path": "__init__.py", "content": "y = 2\n"}]},
     "update_plugin_directory", ("t1", [{"relative_path": "__init__.py", "content": "y = 2\n"}]),
     {}),
    ("install-packages", "POST", "/api/v3/configure/plugin_environment/install_packages",
     {"packages": ["scipy", "pandas==1.5.0"]},
     "install_packages", (["scipy", "pandas==1.5.0"],), {}),
    ("install-requirements", "POST",
     "/api/v3/configure/plugin_environment/install_requirements",
     {"requirements_location": "requirements.txt"},
     "install_requirements", ("requirements.txt",), {}),
]
_IDS = [route[0] for route in PLUGIN_ROUTES]


@dataclass
class _Result:
    values: dict[str, Any] = field(default_factory=lambda: {"log_lines": ["INFO: ran"],
                                                            "database_writes": {},
                                                            "errors": []})

    def to_dict(self) -> dict[str, Any]:
        return self.values


class RecordingEngine(Engine):
    """A real engine whose plugin operations record their arguments instead of acting."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Result:
        self.calls.append((name, args, kwargs))
        return _Result()

    def test_wal_plugin(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("test_wal_plugin", args, kwargs)

    def test_schedule_plugin(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("test_schedule_plugin", args, kwargs)

    def test_request_plugin(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("test_request_plugin", args, kwargs)

    def create_plugin_file(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("create_plugin_file", args, kwargs)

    def update_plugin_file(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("update_plugin_file", args, kwargs)

    def update_plugin_directory(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("update_plugin_directory", args, kwargs)

    def install_packages(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("install_packages", args, kwargs)

    def install_requirements(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("install_requirements", args, kwargs)


class WithoutPluginOperations(Engine):
    """A real engine built without the plugin operations (as an engine before they existed)."""

    test_wal_plugin = None
    test_schedule_plugin = None
    test_request_plugin = None
    create_plugin_file = None
    update_plugin_file = None
    update_plugin_directory = None
    install_packages = None
    install_requirements = None


def _serve(engine: Engine) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with engine:
        tokens = make_tokens(engine)
        with api_client(create_app(engine)) as client:
            yield engine, client, tokens


@pytest.fixture
def recording(plugin_dir: Path) -> Iterator[tuple[RecordingEngine, ApiClient, Tokens]]:
    engine = RecordingEngine(write_plugins(plugin_dir))
    engine.calls = []
    for parts in _serve(engine):
        yield engine, parts[1], parts[2]


@pytest.fixture
def limited(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    yield from _serve(WithoutPluginOperations(write_plugins(plugin_dir)))


@pytest.mark.parametrize(("method", "path", "body", "operation", "args", "kwargs"),
                         [route[1:] for route in PLUGIN_ROUTES], ids=_IDS)
def test_route_forwards_to_the_engine(recording: tuple[RecordingEngine, ApiClient, Tokens],
                                      method: str, path: str, body: dict[str, Any],
                                      operation: str, args: tuple[Any, ...],
                                      kwargs: dict[str, Any]) -> None:
    engine, client, tokens = recording
    response = client.request(method, path, json=body, headers=tokens.header("admin"))
    assert response.status_code == 200, response.text
    assert engine.calls == [(operation, args, kwargs)]
    if path.startswith("/api/v3/plugin_test/"):
        assert response.json() == _Result().values
    else:
        assert response.content == b""


@pytest.mark.parametrize(("method", "path", "body", "operation"),
                         [route[1:5] for route in PLUGIN_ROUTES], ids=_IDS)
def test_missing_engine_operation_is_501(limited: tuple[Engine, ApiClient, Tokens],
                                         method: str, path: str, body: dict[str, Any],
                                         operation: str) -> None:
    _, client, tokens = limited
    response = client.request(method, path, json=body, headers=tokens.header("admin"))
    assert response.status_code == 501
    assert response.json() == {"error": f"this engine does not support Engine.{operation} yet"}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/v3/plugin_test/wal", {"database": "mydb", "input_lp": "x v=1"}, "'filename'"),
        ("/api/v3/plugin_test/wal", {"filename": "wal.py", "database": "mydb"}, "'input_lp'"),
        ("/api/v3/plugin_test/wal", {"filename": "wal.py", "input_lp": "x v=1"}, "'database'"),
        ("/api/v3/plugin_test/wal", {"filename": "wal.py", "database": "mydb",
                                     "input_lp": "x v=1", "input_arguments": ["a"]},
         "'input_arguments' must be a JSON object"),
        ("/api/v3/plugin_test/wal", {"filename": "wal.py", "database": "mydb",
                                     "input_lp": "x v=1", "input_arguments": {"a": 1}},
         "'a' is not a string"),
        ("/api/v3/plugin_test/schedule", {"filename": "s.py", "database": "d", "schedule": 5},
         "'schedule' must be a string"),
        ("/api/v3/plugin_test/request", {"filename": "h.py", "database": "d",
                                         "request_headers": "x"}, "'request_headers'"),
        ("/api/v3/plugins/files", {"plugin_name": "a.py"}, "'content' must be a string"),
        ("/api/v3/plugins/files", {"content": "x"}, "'plugin_name'"),
        ("/api/v3/configure/plugin_environment/install_packages", {"packages": "scipy"},
         "'packages' must be a list"),
        ("/api/v3/configure/plugin_environment/install_packages", {"packages": [1]},
         "'packages' must be a list"),
        ("/api/v3/configure/plugin_environment/install_requirements", {},
         "'requirements_location'"),
    ],
    ids=["wal-no-filename", "wal-no-lp", "wal-no-database", "arguments-list",
         "argument-number", "schedule-number", "headers-string", "file-no-content",
         "file-no-name", "packages-string", "packages-numbers", "requirements-missing"],
)
def test_bad_bodies_are_400_and_reach_nothing(
        recording: tuple[RecordingEngine, ApiClient, Tokens], path: str, body: dict[str, Any],
        message: str) -> None:
    engine, client, tokens = recording
    response = client.post(path, json=body, headers=tokens.header("admin"))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert engine.calls == []


@pytest.mark.parametrize(
    "files",
    ["nope", [1], [{"relative_path": "a.py"}], [{"relative_path": 3, "content": ""}]],
    ids=["not-a-list", "not-objects", "no-content", "path-not-string"],
)
def test_bad_directory_files_are_400(recording: tuple[RecordingEngine, ApiClient, Tokens],
                                     files: Any) -> None:
    engine, client, tokens = recording
    response = client.put("/api/v3/plugins/directory", json={"plugin_name": "t", "files": files},
                          headers=tokens.header("admin"))
    assert response.status_code == 400
    assert "files" in response.json()["error"]
    assert engine.calls == []


@pytest.mark.parametrize(("method", "path", "body"), [route[1:4] for route in PLUGIN_ROUTES],
                         ids=_IDS)
def test_plugin_routes_need_json(recording: tuple[RecordingEngine, ApiClient, Tokens],
                                 method: str, path: str, body: dict[str, Any]) -> None:
    engine, client, tokens = recording
    response = client.request(method, path, content=b"plugin_name=x",
                              headers={"Content-Type": "text/plain",
                                       **tokens.header("admin")})
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert engine.calls == []


@pytest.mark.parametrize(("method", "path", "body"), [route[1:4] for route in PLUGIN_ROUTES],
                         ids=_IDS)
def test_plugin_routes_need_an_admin(recording: tuple[RecordingEngine, ApiClient, Tokens],
                                     method: str, path: str, body: dict[str, Any]) -> None:
    engine, client, tokens = recording
    for caller in ("read", "write", "other_db"):
        response = client.request(method, path, json=body, headers=tokens.header(caller))
        assert response.status_code == 403
        assert response.json()["error"] == (
            "forbidden: this operation needs a token with admin permission")
    assert engine.calls == []


# Dry runs on the real engine

WRITER = ("def process_writes(influxdb3_local, table_batches, args=None):\n"
          "    for batch in table_batches:\n"
          "        influxdb3_local.info('table', batch['table_name'], len(batch['rows']))\n"
          "        line = LineBuilder('seen').tag('t', batch['table_name']).int64_field('n', 1)\n"
          "        influxdb3_local.write(line)\n")
FAILING = ("def process_writes(influxdb3_local, table_batches, args=None):\n"
           "    influxdb3_local.info('before')\n"
           "    raise RuntimeError('nope')\n")


@pytest.fixture
def real(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    (plugin_dir / "writer.py").write_text(WRITER)
    (plugin_dir / "failing.py").write_text(FAILING)
    engine = Engine(write_plugins(plugin_dir))
    for parts in _serve(engine):
        parts[0].create_database("mydb")
        yield parts


def _admin_post(client: ApiClient, tokens: Tokens, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=tokens.header("admin"))


def test_wal_dry_run(real: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = real
    response = _admin_post(client, tokens, "/api/v3/plugin_test/wal", {
        "filename": "writer.py", "database": "mydb", "input_lp": "cpu v=1\ncpu v=2\nmem f=1"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["errors"] == []
    assert any("table cpu 2" in line for line in result["log_lines"])
    assert sorted(result["database_writes"]["mydb"]) == ["seen,t=cpu n=1i", "seen,t=mem n=1i"]
    assert "seen" not in {r["table_name"] for r in engine.query(
        "mydb", "SELECT table_name FROM information_schema.tables")}


def test_failing_dry_run_is_200_with_logs_and_traceback(
        real: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = real
    response = _admin_post(client, tokens, "/api/v3/plugin_test/wal", {
        "filename": "failing.py", "database": "mydb", "input_lp": "cpu v=1"})
    assert response.status_code == 200
    result = response.json()
    assert any("before" in line for line in result["log_lines"])
    assert "RuntimeError: nope" in "\n".join(result["errors"])


def test_schedule_dry_run(real: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = real
    response = _admin_post(client, tokens, "/api/v3/plugin_test/schedule", {
        "filename": "schedule.py", "database": "mydb", "schedule": "0 0 6 * * 1-5"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["trigger_time"].endswith("T06:00:00Z")
    assert any("tick" in line for line in result["log_lines"])


def test_request_dry_run(real: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = real
    response = _admin_post(client, tokens, "/api/v3/plugin_test/request", {
        "filename": "hello.py", "database": "mydb", "query_parameters": {"name": "ada"},
        "request_headers": {"Authorization": "Bearer x"}, "request_body": "hi",
        "input_arguments": {"k": "v"}})
    assert response.status_code == 200, response.text
    answer = response.json()["response"]
    assert answer["status"] == 200
    assert json.loads(answer["body"]) == {"hello": "ada", "body": "hi", "args": {"k": "v"},
                                          "auth": False}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v3/plugin_test/wal", {"filename": "missing.py", "database": "mydb",
                                     "input_lp": "cpu v=1"}, 404, "plugin not found"),
        ("/api/v3/plugin_test/wal", {"filename": "../escape.py", "database": "mydb",
                                     "input_lp": "cpu v=1"}, 400, "invalid plugin path"),
        ("/api/v3/plugin_test/wal", {"filename": "writer.py", "database": "mydb",
                                     "input_lp": "not line protocol"}, 400, ""),
        ("/api/v3/plugin_test/schedule", {"filename": "schedule.py", "database": "nodb"}, 404,
         "database not found"),
        ("/api/v3/plugin_test/schedule", {"filename": "schedule.py", "database": "mydb",
                                          "schedule": "every:0s"}, 400, "expected one of"),
        ("/api/v3/plugin_test/request", {"filename": "/etc/passwd", "database": "mydb"}, 400,
         "invalid plugin path"),
    ],
    ids=["missing-plugin", "traversal", "bad-input-lp", "unknown-database", "bad-schedule",
         "absolute-path"],
)
def test_dry_run_errors(real: tuple[Engine, ApiClient, Tokens], path: str,
                        body: dict[str, Any], status: int, message: str) -> None:
    _, client, tokens = real
    response = _admin_post(client, tokens, path, body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


# Plugin files and the plugin environment on the real engine


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_create_plugin_file_then_back_a_trigger_with_it(
        real: tuple[Engine, ApiClient, Tokens], plugin_dir: Path) -> None:
    engine, client, tokens = real
    source = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n"
    response = _admin_post(client, tokens, "/api/v3/plugins/files",
                           {"plugin_name": "team/nightly.py", "content": source})
    assert response.status_code == 200, response.text
    assert (plugin_dir / "team" / "nightly.py").read_text() == source
    engine.create_trigger("mydb", "nightly", plugin_filename="team/nightly.py",
                          trigger_specification="every:1d")


def test_update_plugin_file_by_trigger_name(real: tuple[Engine, ApiClient, Tokens],
                                            plugin_dir: Path) -> None:
    engine, client, tokens = real
    engine.create_trigger("mydb", "t1", plugin_filename="schedule.py",
                          trigger_specification="every:1h")
    source = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    return 1\n"
    response = client.put("/api/v3/plugins/files", json={"plugin_name": "t1", "content": source},
                          headers=tokens.header("admin"))
    assert response.status_code == 200, response.text
    assert (plugin_dir / "schedule.py").read_text() == source


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/api/v3/plugins/files", {"plugin_name": "../escape.py", "content": "x"}, 400,
         "'..' component"),
        ("POST", "/api/v3/plugins/files", {"plugin_name": "/etc/escape.py", "content": "x"},
         400, "absolute path"),
        ("PUT", "/api/v3/plugins/files", {"plugin_name": "nobody", "content": "x"}, 404,
         "no trigger has that name"),
        ("PUT", "/api/v3/plugins/directory", {"plugin_name": "nobody", "files": [
            {"relative_path": "__init__.py", "content": "x"}]}, 404, "no trigger has that name"),
        ("PUT", "/api/v3/plugins/directory", {"plugin_name": "t1", "files": [
            {"relative_path": "__init__.py", "content": "x"}]}, 400, "not a directory"),
        ("POST", "/api/v3/configure/plugin_environment/install_packages",
         {"packages": ["--index-url=http://elsewhere"]}, 400, "it is a pip option"),
        ("POST", "/api/v3/configure/plugin_environment/install_packages", {"packages": []},
         400, "no packages were given"),
        ("POST", "/api/v3/configure/plugin_environment/install_requirements",
         {"requirements_location": "../requirements.txt"}, 400, "'..' component"),
        ("POST", "/api/v3/configure/plugin_environment/install_requirements",
         {"requirements_location": "missing.txt"}, 400, "no such file"),
    ],
    ids=["file-traversal", "file-absolute", "file-unknown-trigger", "directory-unknown-trigger",
         "directory-for-file-plugin", "package-option", "no-packages", "requirements-traversal",
         "requirements-missing"],
)
def test_plugin_file_and_environment_errors_change_nothing(
        real: tuple[Engine, ApiClient, Tokens], plugin_dir: Path, method: str, path: str,
        body: dict[str, Any], status: int, message: str) -> None:
    engine, client, tokens = real
    engine.create_trigger("mydb", "t1", plugin_filename="schedule.py",
                          trigger_specification="every:1h")
    before = _tree(plugin_dir.parent)
    response = client.request(method, path, json=body, headers=tokens.header("admin"))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert _tree(plugin_dir.parent) == before


def test_disabled_package_manager_is_403(plugin_dir: Path) -> None:
    engine = Engine(write_plugins(plugin_dir), package_manager="disabled")
    for _, client, tokens in _serve(engine):
        response = client.post("/api/v3/configure/plugin_environment/install_packages",
                               json={"packages": ["requests"]}, headers=tokens.header("admin"))
        assert response.status_code == 403
        assert "error" in response.json()
