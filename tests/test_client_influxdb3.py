"""The official influxdb3-python client against a live server: HTTP writes, Flight queries."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from http_support import free_port, live_server
from influxdb_client_3 import InfluxDBClient3, Point, WritePrecision
from influxdb_client_3.exceptions import InfluxDB3ClientQueryError, InfluxDBError

from engine.engine import Engine
from engine.http import create_app
from engine.http.flight import FlightQueryServer, parse_ticket
from engine.tokens import TokenStore

T0 = 1_700_000_000_000_000_000


@dataclass(frozen=True)
class Served:
    """An engine behind a live HTTP server and a Flight server, with tokens."""

    engine: Engine
    url: str
    flight_port: int
    admin: str
    reader: str

    def client(self, token: str | None = None, **options: Any) -> InfluxDBClient3:
        return InfluxDBClient3(host=self.url, token=token or self.admin, database="db",
                               query_port_overwrite=self.flight_port, **options)


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[Served]:
    with Engine(plugin_dir) as engine:
        store = TokenStore(engine.catalog)
        admin = store.create_admin_token()[0]
        reader = store.create_database_token(["other"], ["read"])[0]
        flight_server = FlightQueryServer(engine, "grpc+tcp://127.0.0.1:0", tokens=store)
        try:
            with live_server(create_app(engine, auth=True, tokens=store)) as url:
                yield Served(engine, url, flight_server.port, admin, reader)
        finally:
            flight_server.shutdown()


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    return engine.query("db", sql)


@pytest.mark.parametrize("options", [
    pytest.param({}, id="v3-write_lp"),
    pytest.param({"write_use_v2_api": True}, id="v2-write"),
    pytest.param({"enable_gzip": True, "gzip_threshold": 1}, id="v3-gzip"),
])
def test_point_object_is_written_with_tags_field_types_and_time(
        served: Served, options: dict[str, Any]) -> None:
    point = (Point("cpu").tag("host", "a").field("usage", 0.5).field("count", 3)
             .field("ok", True).field("note", "hi").time(T0))
    with contextlib.closing(served.client(**options)) as client:
        client.write(point)
    assert _rows(served.engine, "SELECT * FROM cpu") == [
        {"host": "a", "usage": 0.5, "count": 3, "ok": True, "note": "hi", "time": T0}]
    types = {field.name: field.type for field in
             served.engine.query_arrow("db", "SELECT * FROM cpu").schema}
    assert types["usage"] == pa.float64() and types["count"] == pa.int64()
    assert types["ok"] == pa.bool_() and types["note"] == pa.string()


@pytest.mark.parametrize("precision,stamp", [
    pytest.param(WritePrecision.NS, T0, id="ns"),
    pytest.param(WritePrecision.US, T0 // 1_000, id="us"),
    pytest.param(WritePrecision.MS, T0 // 1_000_000, id="ms"),
    pytest.param(WritePrecision.S, T0 // 1_000_000_000, id="s"),
])
def test_line_protocol_string_honours_the_write_precision(
        served: Served, precision: str, stamp: int) -> None:
    with contextlib.closing(served.client()) as client:
        client.write(f"mem,host=b used=7i,free=1.5 {stamp}", write_precision=precision)
    assert _rows(served.engine, "SELECT host, used, free, time FROM mem") == [
        {"host": "b", "used": 7, "free": 1.5, "time": T0}]


def test_batch_of_points_and_lines_arrives_whole(served: Served) -> None:
    records: list[Any] = [Point("net").tag("if", f"eth{i}").field("bytes", i).time(T0 + i)
                          for i in range(50)]
    records.append(f"net,if=lo bytes=999i {T0 + 50}")
    with contextlib.closing(served.client()) as client:
        client.write(record=records)
    rows = _rows(served.engine, 'SELECT "if", bytes, time FROM net ORDER BY time')
    assert len(rows) == 51
    assert rows[0] == {"if": "eth0", "bytes": 0, "time": T0}
    assert rows[-1] == {"if": "lo", "bytes": 999, "time": T0 + 50}


@pytest.mark.parametrize("who", ["unknown", "other_db_reader"])
def test_write_without_write_permission_fails_with_the_clients_error(
        served: Served, who: str) -> None:
    token = "apiv3_not-a-real-token" if who == "unknown" else served.reader
    with (contextlib.closing(served.client(token=token)) as client,
          pytest.raises(InfluxDBError) as caught):
        client.write("cpu,host=a usage=1 1")
    assert caught.value.response.status in (401, 403)
    assert "db" not in served.engine.list_databases()


def test_query_over_flight_returns_an_arrow_table(served: Served) -> None:
    served.engine.write_lp("db", f"cpu,host=a usage=0.5 {T0}\ncpu,host=b usage=1.5 {T0 + 1}",
                           precision="ns")
    with contextlib.closing(served.client()) as client:
        table = client.query("SELECT host, usage, time FROM cpu ORDER BY host")
        assert isinstance(table, pa.Table)
        assert table.column("host").to_pylist() == ["a", "b"]
        assert table.column("usage").to_pylist() == [0.5, 1.5]
        params = client.query("SELECT usage FROM cpu WHERE host = $host",
                              query_parameters={"host": "b"})
        assert params.to_pylist() == [{"usage": 1.5}]


def test_client_round_trip_write_then_query(served: Served) -> None:
    with contextlib.closing(served.client()) as client:
        client.write(Point("t").tag("k", "v").field("x", 2).time(T0))
        table = client.query("SELECT k, x, time FROM t")
    assert table.column("k").to_pylist() == ["v"]
    assert table.column("x").to_pylist() == [2]
    assert table.column("time").cast(pa.int64()).to_pylist() == [T0]


@pytest.mark.parametrize("token,sql,language,database,message", [
    pytest.param("unknown", "SELECT 1", "sql", "db", "not authenticated", id="unknown-token"),
    pytest.param("reader", "SELECT 1", "sql", "db", "read permission", id="no-read-on-db"),
    pytest.param("admin", "SELECT * FROM nope", "sql", "db", "nope", id="bad-sql"),
    pytest.param("admin", "SELECT 1", "sql", "missing", "database not found", id="no-db"),
    pytest.param("admin", "SELECT * FROM cpu", "influxql", "db", "use 'sql'", id="influxql"),
])
def test_query_failures_reach_the_client_as_its_query_error(
        served: Served, token: str, sql: str, language: str, database: str,
        message: str) -> None:
    served.engine.write_lp("db", "cpu,host=a usage=1 1")
    chosen = {"unknown": "apiv3_not-a-real-token", "reader": served.reader,
              "admin": served.admin}[token]
    with (contextlib.closing(served.client(token=chosen)) as client,
          pytest.raises(InfluxDB3ClientQueryError) as caught):
        client.query(sql, language=language, database=database)
    assert message in str(caught.value)


@pytest.mark.parametrize("raw,message", [
    pytest.param(b"not json", "not JSON", id="not-json"),
    pytest.param(b"[1]", "JSON object", id="not-object"),
    pytest.param(b'{"database": "db"}', "sql_query", id="no-sql"),
    pytest.param(b'{"database": "db", "sql_query": "x", "params": [1]}', "params",
                 id="params-not-object"),
])
def test_parse_ticket_refuses_malformed_tickets(raw: bytes, message: str) -> None:
    with pytest.raises(pa.ArrowInvalid, match=message):
        parse_ticket(raw)


def test_parse_ticket_reads_the_clients_fields() -> None:
    raw = b'{"database": "db", "sql_query": "SELECT 1", "query_type": "SQL", "params": {"a": 1}}'
    assert parse_ticket(raw) == ("db", "SELECT 1", {"a": 1})


def _serve(plugin_dir: Path, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--plugin-dir", str(plugin_dir),
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError("server did not become healthy within 30 s")


def test_serve_with_flight_bind_answers_the_client_end_to_end(
        plugin_dir: Path, tmp_path: Path) -> None:
    http_port, flight_port = free_port(), free_port()
    process = _serve(plugin_dir, tmp_path / "data", "--http-bind", f"127.0.0.1:{http_port}",
                     "--flight-bind", f"127.0.0.1:{flight_port}")
    try:
        url = f"http://127.0.0.1:{http_port}"
        _wait_healthy(url, process)
        assert process.stdout is not None
        assert "admin token" in process.stdout.readline()
        token = process.stdout.readline().strip()
        with contextlib.closing(InfluxDBClient3(host=url, token=token, database="db",
                                                query_port_overwrite=flight_port)) as client:
            client.write(Point("cpu").tag("host", "a").field("usage", 0.25).time(T0))
            table = client.query("SELECT host, usage FROM cpu")
        assert table.to_pylist() == [{"host": "a", "usage": 0.25}]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert f"Arrow Flight queries on grpc+tcp://127.0.0.1:{flight_port}" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_serve_refuses_a_flight_port_in_use(plugin_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(plugin_dir, tmp_path / "data", "--http-bind",
                         f"127.0.0.1:{free_port()}", "--flight-bind", f"127.0.0.1:{port}")
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"invalid --flight-bind '127.0.0.1:{port}'" in stderr
