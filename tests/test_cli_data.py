"""Specification of the `write` and `query` verbs of the command line."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import clear_cli_environment, run, served
from http_support import Tokens

LP = "cpu,host=a usage=0.5,count=1i 1700000000\ncpu,host=b usage=1.5,count=2i 1700000001\n"




@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A data directory holding LP in database `db`."""
    source = tmp_path / "points.lp"
    source.write_text(LP)
    directory = tmp_path / "data"
    status, out, err = run(capsys, "write", "--data-dir", str(directory), "-d", "db", str(source))
    assert (status, out, err) == (0, "wrote 2 line(s) to database 'db'\n", "")
    return directory


QUERY = "SELECT host, usage, count, time FROM cpu ORDER BY time"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "json",
            '[{"host": "a", "usage": 0.5, "count": 1, "time": "2023-11-14T22:13:20"}, '
            '{"host": "b", "usage": 1.5, "count": 2, "time": "2023-11-14T22:13:21"}]\n',
        ),
        (
            "jsonl",
            '{"host": "a", "usage": 0.5, "count": 1, "time": "2023-11-14T22:13:20"}\n'
            '{"host": "b", "usage": 1.5, "count": 2, "time": "2023-11-14T22:13:21"}\n',
        ),
        (
            "csv",
            '"host","usage","count","time"\n'
            '"a",0.5,1,"2023-11-14T22:13:20"\n'
            '"b",1.5,2,"2023-11-14T22:13:21"\n',
        ),
        (
            "table",
            "+------+-------+-------+---------------------+\n"
            "| host | usage | count | time                |\n"
            "+------+-------+-------+---------------------+\n"
            "| a    | 0.5   | 1     | 2023-11-14T22:13:20 |\n"
            "| b    | 1.5   | 2     | 2023-11-14T22:13:21 |\n"
            "+------+-------+-------+---------------------+\n",
        ),
    ],
    ids=["json", "jsonl", "csv", "table"],
)
def test_query_prints_each_format(
    data_dir: Path, capsys: pytest.CaptureFixture[str], fmt: str, expected: str
) -> None:
    status, out, _ = run(
        capsys, "query", "--data-dir", str(data_dir), "-d", "db", QUERY, "--format", fmt
    )
    assert (status, out) == (0, expected)


def test_write_reads_stdin_and_takes_a_precision(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"mem v=7i 1700000000000\n")))
    status, out, _ = run(
        capsys, "write", "--data-dir", str(data_dir), "-d", "db", "--precision", "ms", "-"
    )
    assert (status, out) == (0, "wrote 1 line(s) to database 'db'\n")
    status, out, _ = run(capsys, "query", "--data-dir", str(data_dir), "-d", "db",
                         "SELECT v, time FROM mem")
    assert json.loads(out) == [{"v": 7, "time": "2023-11-14T22:13:20"}]


def test_a_partial_write_reports_each_refused_line_and_exits_1(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "mixed.lp"
    source.write_text("cpu,host=c usage=2.5 1700000002\nnot valid\n")
    status, out, err = run(capsys, "write", "--data-dir", str(data_dir), "-d", "db", str(source))
    assert status == 1
    assert out == "wrote 1 line(s) to database 'db'\n"
    assert err.startswith("line 2: ") and err.rstrip().endswith(": not valid")


def test_no_partial_writes_nothing_when_a_line_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "mixed.lp"
    source.write_text("cpu usage=2.5 1\ncpu usage=oops 2\n")
    data = str(tmp_path / "data")
    status, _, err = run(capsys, "write", "--data-dir", data, "-d", "db", "--no-partial",
                         str(source))
    assert status == 1
    assert "accept_partial is False" in err and "line 2: " in err
    status, _, err = run(capsys, "query", "--data-dir", data, "-d", "db", "SELECT 1")
    assert (status, err) == (1, "error: database not found: 'db'\n")


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["write", "-d", "db", "--precision", "hours", "-"], 2, "precision"),
        (["write", "-d", "bad name!", "-"], 2, "invalid database name"),
        (["write", "-d", "db", "missing.lp"], 2, "cannot read missing.lp"),
        (["query", "-d", "db", "SELEC nonsense"], 1, "query failed"),
        (["query", "-d", "db", "SELECT * FROM nowhere"], 1, "nowhere"),
    ],
    ids=["bad-precision", "bad-database-name", "missing-file", "bad-sql", "unknown-table"],
)
def test_errors_are_reported_with_an_exit_status(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    status: int,
    message: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"cpu v=1i 1\n")))
    monkeypatch.chdir(data_dir.parent)
    code, _, err = run(capsys, argv[0], "--data-dir", str(data_dir), *argv[1:])
    assert code == status
    assert err.startswith("error: ") and message in err


def test_the_data_directory_can_come_from_the_environment(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFLUXDB3_DB_DIR", str(data_dir))
    monkeypatch.setenv("INFLUXDB3_DATABASE_NAME", "db")
    status, out, _ = run(capsys, "query", "SELECT count(*) AS n FROM cpu")
    assert (status, json.loads(out)) == (0, [{"n": 2}])


# Against a running server (-H/--host, --token), as `influxdb3 write` and `query` work.


@pytest.fixture
def server(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Tokens]]:
    """A live server; yields its URL and tokens (read/write on `mydb`)."""
    clear_cli_environment(monkeypatch)
    with served(plugin_dir) as (_, url, tokens):
        yield url, tokens


def test_write_then_query_a_server(server: tuple[str, Tokens], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    url, tokens = server
    source = tmp_path / "points.lp"
    source.write_text(LP)
    status, out, err = run(capsys, "write", "-H", url, "--token", tokens.admin, "-d", "mydb",
                           str(source))
    assert (status, err) == (0, "") and "mydb" in out
    status, out, _ = run(capsys, "query", "-H", url, "--token", tokens.read, "-d", "mydb",
                         QUERY, "--format", "jsonl")
    assert status == 0
    assert [json.loads(line)["host"] for line in out.splitlines()] == ["a", "b"]
    status, out, _ = run(capsys, "query", "-H", url, "--token", tokens.read, "-d", "mydb",
                         "SELECT count(*) AS n FROM cpu", "--format", "table")
    assert status == 0 and out.splitlines()[1] == "| n |" and "| 2 |" in out


def test_a_partial_write_to_a_server_reports_each_refused_line(
        server: tuple[str, Tokens], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, tokens = server
    monkeypatch.setenv("INFLUXDB3_HOST_URL", url)
    monkeypatch.setenv("INFLUXDB3_AUTH_TOKEN", tokens.write)
    monkeypatch.setattr(sys, "stdin",
                        io.TextIOWrapper(io.BytesIO(b"cpu v=1i 1\nnot line protocol\n")))
    status, _, err = run(capsys, "write", "-d", "mydb", "--precision", "s")
    assert status == 1
    assert "line 2:" in err
    status, out, _ = run(capsys, "query", "-d", "mydb", "--token", tokens.read,
                         "SELECT count(*) AS n FROM cpu")
    assert (status, json.loads(out)) == (0, [{"n": 1}])


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["query", "-d", "mydb", "SELECT 1"], 1, "401"),
    (["write", "-d", "other", "-"], 1, "403"),
], ids=["no-token", "token-for-another-database"])
def test_a_server_refusal_is_an_error(server: tuple[str, Tokens],
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                      status: int, message: str) -> None:
    url, tokens = server
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"cpu v=1i 1\n")))
    token = [] if argv[0] == "query" else ["--token", tokens.write]
    code, _, err = run(capsys, argv[0], "-H", url, *token, *argv[1:])
    assert code == status and message in err


def test_without_a_data_directory_it_asks_the_default_server(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INFLUXDB3_HOST_URL", "INFLUXDB3_DB_DIR"):
        monkeypatch.delenv(name, raising=False)
    status, _, err = run(capsys, "query", "-d", "db", "SELECT 1", "--timeout", "5")
    assert status == 1 and "http://127.0.0.1:8181" in err
