"""Specification of `processing-engine serve` (engine.cli.serve), run as a real process."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_support import free_port, write_plugins

from engine.cli import build_parser
from engine.cli.serve import ServeConfig, parse_bind
from engine.errors import InvalidServerOption


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not become healthy within 30 s")


@pytest.fixture
def server(tmp_path: Path, plugin_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    write_plugins(plugin_dir)
    port = free_port()
    process = _start(["--plugin-dir", str(plugin_dir), "--data-dir", str(tmp_path / "data"),
                      "--http-bind", f"127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _first_token(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    assert "admin token" in process.stdout.readline()
    return process.stdout.readline().strip()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_serve_answers_then_stops_gracefully(server: tuple[subprocess.Popen[str], str],
                                             stop: signal.Signals, tmp_path: Path) -> None:
    process, url = server
    token = _first_token(process)
    assert token.startswith("apiv3_")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/api/v3/configure/database").status_code == 401
    created = httpx.post(f"{url}/api/v3/configure/database", json={"db": "mydb"},
                         headers=headers)
    assert created.status_code == 200, created.text
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "mydb" in (tmp_path / "data" / "catalog.json").read_text()


def test_restart_keeps_tokens_and_prints_none(tmp_path: Path, plugin_dir: Path) -> None:
    write_plugins(plugin_dir)
    port = free_port()
    args = ["--plugin-dir", str(plugin_dir), "--data-dir", str(tmp_path / "data"),
            "--http-bind", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    first = _start(args)
    _wait_healthy(url, first)
    token = _first_token(first)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    second = _start(args)
    try:
        _wait_healthy(url, second)
        ok = httpx.get(f"{url}/api/v3/configure/database",
                       headers={"Authorization": f"Token {token}"})
        assert ok.status_code == 200
        second.send_signal(signal.SIGTERM)
        stdout, _ = second.communicate(timeout=30)
        assert second.returncode == 0
        assert "apiv3_" not in stdout
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()


def test_without_auth_from_environment(tmp_path: Path, plugin_dir: Path) -> None:
    port = free_port()
    process = _start([], env={
        "INFLUXDB3_PLUGIN_DIR": str(plugin_dir),
        "INFLUXDB3_DB_DIR": str(tmp_path / "data"),
        "INFLUXDB3_HTTP_BIND_ADDR": f"127.0.0.1:{port}",
        "INFLUXDB3_START_WITHOUT_AUTH": "true",
    })
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        response = httpx.post(f"{url}/api/v3/configure/database", json={"db": "open"})
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "apiv3_" not in stdout
        assert "open" in (tmp_path / "data" / "catalog.json").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--http-bind", "nonsense"], "invalid --http-bind 'nonsense': expected HOST:PORT"),
        (["--http-bind", "127.0.0.1:70000"], "port 1-65535"),
        (["--plugin-dir", "/definitely/not/here"], "expected an existing directory"),
        (["--wal-flush-interval", "0s"], "invalid --wal-flush-interval '0s'"),
        (["--wal-flush-interval", "soon"], "longer than zero"),
        (["--max-http-request-size", "-5"], "invalid --max-http-request-size '-5'"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key together"),
        (["--log-filter", "loud"], "invalid --log-filter 'loud'"),
    ],
    ids=["bind-no-port", "bind-port-range", "missing-plugin-dir", "zero-flush", "bad-flush",
         "negative-size", "cert-without-key", "bad-log-level"],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    parsed = build_parser().parse_args(["serve", *args])
    with pytest.raises(InvalidServerOption, match=re.escape(message)):
        ServeConfig.from_args(parsed)


def test_bad_option_exits_2_without_starting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--http-bind", "x",
         "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid --http-bind 'x': expected HOST:PORT" in result.stderr
    assert not (tmp_path / "d").exists()


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, plugin_dir: Path) -> None:
    parsed = build_parser().parse_args(["serve"])
    config = ServeConfig.from_args(parsed)
    assert (config.host, config.port) == ("127.0.0.1", 8181)
    assert config.data_dir == Path(".processing-engine")
    assert config.max_request_size == 10 * 1024 * 1024
    assert config.wal_flush_interval == 1.0
    assert not config.without_auth
    monkeypatch.setenv("INFLUXDB3_PLUGIN_DIR", str(plugin_dir))
    monkeypatch.setenv("INFLUXDB3_WAL_FLUSH_INTERVAL", "0.25")
    monkeypatch.setenv("INFLUXDB3_MAX_HTTP_REQUEST_SIZE", "2048")
    config = ServeConfig.from_args(build_parser().parse_args(["serve"]))
    assert config.plugin_dir == plugin_dir
    assert config.wal_flush_interval == 0.25
    assert config.max_request_size == 2048
    flag_wins = build_parser().parse_args(["serve", "--max-http-request-size", "4096"])
    assert ServeConfig.from_args(flag_wins).max_request_size == 4096


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8181", ("127.0.0.1", 8181)), ("0.0.0.0:80", ("0.0.0.0", 80)),
     ("[::1]:9000", ("::1", 9000)), ("localhost:1", ("localhost", 1))],
    ids=["loopback", "any", "ipv6", "name"],
)
def test_parse_bind(text: str, expected: tuple[str, int]) -> None:
    assert parse_bind(text) == expected


def test_serve_over_tls(tmp_path: Path, plugin_dir: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    port = free_port()
    process = _start(["--plugin-dir", str(plugin_dir), "--data-dir", str(tmp_path / "data"),
                      "--http-bind", f"127.0.0.1:{port}", "--without-auth",
                      "--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/health",
                                     verify=ssl.create_default_context(cafile=str(cert)))
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert response.text == "OK"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_stop_during_start_up_is_still_graceful(tmp_path: Path, plugin_dir: Path) -> None:
    port = free_port()
    process = _start(["--plugin-dir", str(plugin_dir), "--data-dir", str(tmp_path / "data"),
                      "--http-bind", f"127.0.0.1:{port}"])
    try:
        token = _first_token(process)  # printed before uvicorn takes over the signals
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "stopped after SIGTERM" in stderr
        assert token[len("apiv3_"):] not in (tmp_path / "data" / "catalog.json").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
