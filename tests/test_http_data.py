"""Specification of the data routes: writes (v3, v2, v1), SQL queries, databases."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from http_support import ApiClient, Tokens, served_engine

from engine.engine import Engine

WRITE = "/api/v3/write_lp"
QUERY = "/api/v3/query_sql"
DATABASE = "/api/v3/configure/database"
LINES = b"cpu,host=a usage=1.5,count=3i 1700000000000000000\n" \
        b"cpu,host=b usage=2.5,count=4i 1700000001000000000\n"


@pytest.fixture
def served(plugin_dir: Path) -> Iterator[tuple[Engine, ApiClient, Tokens]]:
    with served_engine(plugin_dir) as parts:
        yield parts


def _admin(tokens: Tokens) -> dict[str, str]:
    return tokens.header("admin")


def _rows(engine: Engine, sql: str = "SELECT host, usage, count FROM cpu ORDER BY host",
          db: str = "mydb") -> list[dict[str, Any]]:
    return engine.query(db, sql)


# Writes


def test_write_lp_stores_rows_and_answers_204(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    response = client.post(WRITE, params={"db": "mydb"}, content=LINES, headers=_admin(tokens))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _rows(engine) == [{"host": "a", "usage": 1.5, "count": 3},
                             {"host": "b", "usage": 2.5, "count": 4}]
    assert "mydb" in engine.list_databases()


@pytest.mark.parametrize(
    ("precision", "stamp", "expected_ns"),
    [("ns", "1700000000000000001", 1700000000000000001),
     ("us", "1700000000000001", 1700000000000001000),
     ("ms", "1700000000001", 1700000000001000000),
     ("s", "1700000000", 1700000000000000000),
     ("second", "1700000000", 1700000000000000000),
     ("auto", "1700000000", 1700000000000000000)],
    ids=["ns", "us", "ms", "s", "second", "auto"],
)
def test_write_lp_precision(served: tuple[Engine, ApiClient, Tokens], precision: str,
                            stamp: str, expected_ns: int) -> None:
    engine, client, tokens = served
    response = client.post(WRITE, params={"db": "mydb", "precision": precision},
                           content=f"m v=1 {stamp}".encode(), headers=_admin(tokens))
    assert response.status_code == 204, response.text
    rows = engine.query("mydb", "SELECT CAST(time AS BIGINT) AS t FROM m")
    assert rows == [{"t": expected_ns}]


def test_write_lp_gzip_body(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    response = client.post(WRITE, params={"db": "mydb"}, content=gzip.compress(LINES),
                           headers={"Content-Encoding": "gzip", **_admin(tokens)})
    assert response.status_code == 204, response.text
    assert len(_rows(engine)) == 2


def test_partial_write_reports_bad_lines(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    body = b"cpu,host=a usage=1 1\nthis is not line protocol\ncpu,host=b usage=2 2\n"
    response = client.post(WRITE, params={"db": "mydb"}, content=body, headers=_admin(tokens))
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "partial write of line protocol occurred"
    assert [item["line_number"] for item in payload["data"]] == [2]
    assert payload["data"][0]["original_line"] == "this is not line pro"
    assert payload["data"][0]["error_message"]
    assert len(engine.query("mydb", "SELECT * FROM cpu")) == 2


def test_accept_partial_false_writes_nothing(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    engine.create_database("mydb")
    body = b"cpu,host=a usage=1\nbad line\n"
    response = client.post(WRITE, params={"db": "mydb", "accept_partial": "false"},
                           content=body, headers=_admin(tokens))
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"].startswith("line protocol parsing error")
    assert payload["data"]["line_number"] == 2
    assert "cpu" not in {r["table_name"] for r in engine.query(
        "mydb", "SELECT table_name FROM information_schema.tables")}


@pytest.mark.parametrize(
    ("params", "content", "headers", "status", "message"),
    [
        ({}, LINES, {}, 400, "missing query parameter 'db'"),
        ({"db": "bad name"}, LINES, {}, 400, "invalid database name"),
        ({"db": "mydb", "precision": "fortnight"}, LINES, {}, 400, "precision"),
        ({"db": "mydb", "accept_partial": "sometimes"}, LINES, {}, 400, "accept_partial"),
        ({"db": "mydb"}, b"", {}, 400, "no lines"),
        ({"db": "mydb"}, b"not gzip", {"Content-Encoding": "gzip"}, 400, "gzip"),
        ({"db": "mydb"}, LINES, {"Content-Encoding": "compress"}, 415, "Content-Encoding"),
    ],
    ids=["no-db", "bad-db-name", "bad-precision", "bad-accept-partial", "empty", "bad-gzip",
         "unknown-encoding"],
)
def test_write_lp_errors(served: tuple[Engine, ApiClient, Tokens], params: dict[str, str],
                         content: bytes, headers: dict[str, str], status: int,
                         message: str) -> None:
    engine, client, tokens = served
    response = client.post(WRITE, params=params, content=content,
                           headers={**headers, **_admin(tokens)})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert engine.list_databases() == []


def test_oversized_write_is_413(plugin_dir: Path) -> None:
    with served_engine(plugin_dir, max_request_size=300) as (engine, client, tokens):
        big = b"cpu v=1\n" * 50
        plain = client.post(WRITE, params={"db": "mydb"}, content=big, headers=_admin(tokens))
        assert plain.status_code == 413
        assert "max request size (300 bytes) exceeded" in plain.json()["error"]
        # A small gzip body that inflates past the limit is refused too (gzip bomb).
        zipped = gzip.compress(b"cpu v=1\n" * 10_000)
        assert len(zipped) < 300
        bomb = client.post(WRITE, params={"db": "mydb"}, content=zipped,
                           headers={"Content-Encoding": "gzip", **_admin(tokens)})
        assert bomb.status_code == 413
        assert engine.list_databases() == []


def test_v2_write(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    response = client.post("/api/v2/write", params={"bucket": "mydb", "org": "any",
                                                     "precision": "s"},
                           content=b"m v=1 1700000000", headers=tokens.header("write"))
    assert response.status_code == 204, response.text
    assert engine.query("mydb", "SELECT CAST(time AS BIGINT) AS t FROM m") == [
        {"t": 1700000000000000000}]


def test_v2_write_errors_have_code_and_message(
        served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    response = client.post("/api/v2/write", params={"bucket": "mydb"},
                           content=b"m v=1\nbroken\n", headers=_admin(tokens))
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid"
    assert payload["message"] == payload["error"]
    assert engine.list_databases() == []
    missing = client.post("/api/v2/write", content=b"m v=1", headers=_admin(tokens))
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid")


@pytest.mark.parametrize(
    ("precision", "stamp", "expected_ns"),
    [("n", "1700000000000000001", 1700000000000000001),
     ("u", "1700000000000001", 1700000000000001000),
     ("ms", "1700000000001", 1700000000001000000),
     ("s", "1700000000", 1700000000000000000)],
    ids=["n", "u", "ms", "s"],
)
def test_v1_write(served: tuple[Engine, ApiClient, Tokens], precision: str, stamp: str,
                  expected_ns: int) -> None:
    engine, client, tokens = served
    response = client.post("/write", params={"db": "mydb", "precision": precision,
                                             "p": tokens.write},
                           content=f"m v=1 {stamp}".encode())
    assert response.status_code == 204, response.text
    assert engine.query("mydb", "SELECT CAST(time AS BIGINT) AS t FROM m") == [
        {"t": expected_ns}]


# Queries


@pytest.fixture
def with_data(served: tuple[Engine, ApiClient, Tokens]) -> tuple[Engine, ApiClient, Tokens]:
    _, client, tokens = served
    client.post(WRITE, params={"db": "mydb"}, content=LINES, headers=_admin(tokens))
    return served


def test_query_get_json(with_data: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = with_data
    response = client.get(QUERY, params={"db": "mydb", "q": "SELECT host, usage, time FROM cpu "
                                                           "ORDER BY host"},
                          headers=tokens.header("read"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [
        {"host": "a", "usage": 1.5, "time": "2023-11-14T22:13:20"},
        {"host": "b", "usage": 2.5, "time": "2023-11-14T22:13:21"},
    ]


def test_query_post_with_parameters(with_data: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = with_data
    body = {"db": "mydb", "q": "SELECT host FROM cpu WHERE usage > $min AND host = $h",
            "params": {"min": 2, "h": "b"}}
    response = client.post(QUERY, json=body, headers=_admin(tokens))
    assert response.status_code == 200, response.text
    assert response.json() == [{"host": "b"}]
    as_text = client.get(QUERY, params={**body, "params": json.dumps(body["params"])},
                         headers=_admin(tokens))
    assert as_text.json() == [{"host": "b"}]


@pytest.mark.parametrize(
    ("fields", "accept", "media"),
    [({"format": "jsonl"}, None, "application/jsonl"),
     ({"format": "json_lines"}, None, "application/jsonl"),
     ({"format": "csv"}, None, "text/csv"),
     ({}, "text/csv", "text/csv"),
     ({"format": "parquet"}, None, "application/vnd.apache.parquet"),
     ({}, "application/vnd.apache.parquet", "application/vnd.apache.parquet"),
     ({}, "*/*", "application/json")],
    ids=["jsonl", "json-lines", "csv", "accept-csv", "parquet", "accept-parquet", "accept-any"],
)
def test_query_formats(with_data: tuple[Engine, ApiClient, Tokens], fields: dict[str, str],
                       accept: str | None, media: str) -> None:
    _, client, tokens = with_data
    headers = {**_admin(tokens), **({"Accept": accept} if accept else {})}
    response = client.get(QUERY, params={"db": "mydb", "q": "SELECT host, count FROM cpu "
                                                           "ORDER BY host", **fields},
                          headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    if media == "application/jsonl":
        lines = response.text.splitlines()
        assert [json.loads(line) for line in lines] == [{"host": "a", "count": 3},
                                                        {"host": "b", "count": 4}]
    elif media == "text/csv":
        assert response.text.splitlines() == ['"host","count"', '"a",3', '"b",4']
    elif media.endswith("parquet"):
        table = pq.read_table(io.BytesIO(response.content))
        assert table.to_pylist() == [{"host": "a", "count": 3}, {"host": "b", "count": 4}]
    else:
        assert response.json() == [{"host": "a", "count": 3}, {"host": "b", "count": 4}]


@pytest.mark.parametrize(
    ("method", "fields", "status", "message"),
    [
        ("GET", {"q": "SELECT 1"}, 400, "missing required field 'db'"),
        ("GET", {"db": "mydb"}, 400, "missing required field 'q'"),
        ("GET", {"db": "mydb", "q": "SELECT nope FROM cpu"}, 400, "query failed"),
        ("GET", {"db": "nodb", "q": "SELECT 1"}, 404, "database not found"),
        ("GET", {"db": "mydb", "q": "SELECT 1", "format": "xml"}, 400, "unsupported format"),
        ("GET", {"db": "mydb", "q": "SELECT 1", "params": "{nope"}, 400, "params"),
        ("GET", {"db": "mydb", "q": "SELECT 1", "params": "[1]"}, 400, "params"),
        ("POST", {"db": "mydb", "q": "SELECT 1", "params": {"a": [1]}}, 400, "'a'"),
        ("POST", {"db": "mydb", "q": 5}, 400, "must be a string"),
    ],
    ids=["no-db", "no-q", "bad-sql", "unknown-db", "bad-format", "params-not-json",
         "params-not-object", "param-list", "q-not-string"],
)
def test_query_errors(with_data: tuple[Engine, ApiClient, Tokens], method: str,
                      fields: dict[str, Any], status: int, message: str) -> None:
    _, client, tokens = with_data
    if method == "GET":
        response = client.get(QUERY, params=fields, headers=_admin(tokens))
    else:
        response = client.post(QUERY, json=fields, headers=_admin(tokens))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_query_post_needs_json(with_data: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = with_data
    response = client.post(QUERY, content=b"db=mydb&q=SELECT+1",
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    **_admin(tokens)})
    assert response.status_code == 415


# Databases


def test_database_lifecycle(served: tuple[Engine, ApiClient, Tokens]) -> None:
    engine, client, tokens = served
    assert client.get(DATABASE, headers=_admin(tokens)).json() == []
    assert client.post(DATABASE, json={"db": "one"}, headers=_admin(tokens)).status_code == 200
    listed = client.get(DATABASE, params={"format": "json"}, headers=_admin(tokens))
    assert listed.json() == [{"iox::database": "one"}]
    again = client.post(DATABASE, json={"db": "one"}, headers=_admin(tokens))
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]
    assert client.delete(DATABASE, params={"db": "one"}, headers=_admin(tokens)).status_code \
        == 200
    assert engine.list_databases() == []
    gone = client.delete(DATABASE, params={"db": "one"}, headers=_admin(tokens))
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [({}, 400, "missing required field 'db'"), ({"db": 3}, 400, "must be a string"),
     ({"db": "_internal"}, 400, "reserved"), ({"db": "-x"}, 400, "invalid database name")],
    ids=["no-db", "db-not-string", "internal", "bad-name"],
)
def test_create_database_errors(served: tuple[Engine, ApiClient, Tokens], body: dict[str, Any],
                                status: int, message: str) -> None:
    engine, client, tokens = served
    response = client.post(DATABASE, json=body, headers=_admin(tokens))
    assert response.status_code == status
    assert message in response.json()["error"]
    assert engine.list_databases() == []


def test_list_databases_other_format_is_400(served: tuple[Engine, ApiClient, Tokens]) -> None:
    _, client, tokens = served
    response = client.get(DATABASE, params={"format": "csv"}, headers=_admin(tokens))
    assert response.status_code == 400
    assert "unsupported format" in response.json()["error"]


@pytest.mark.parametrize("precision", ["m", "h"], ids=["minutes", "hours"])
def test_v1_minute_and_hour_precision_are_refused(served: tuple[Engine, ApiClient, Tokens],
                                                   precision: str) -> None:
    engine, client, tokens = served
    response = client.post("/write", params={"db": "mydb", "precision": precision},
                           content=b"m v=1 28333333", headers=_admin(tokens))
    assert response.status_code == 400
    assert "use n, u, ms or s" in response.json()["error"]
    assert engine.list_databases() == []
