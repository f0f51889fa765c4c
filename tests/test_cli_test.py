"""The `test` verb: dry runs of WAL, schedule and request plugins, locally and against a server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_support import live_server, make_tokens

from engine import Engine
from engine.cli import main
from engine.cli.test_cmd import UsageProblem, parse_arguments

PLUGIN = '''
def process_writes(influxdb3_local, table_batches, args=None):
    total = influxdb3_local.query("SELECT count(*) AS n FROM cpu")[0]["n"]
    for batch in table_batches:
        influxdb3_local.info(batch["table_name"], len(batch["rows"]), "stored", total)
        influxdb3_local.write(LineBuilder("seen").tag("table", batch["table_name"])
                              .int64_field("rows", len(batch["rows"])))
    if args and args.get("fail"):
        raise RuntimeError("failing as asked")


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("tick", call_time.isoformat(), args)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"q": query_parameters, "h": request_headers, "body": request_body.decode()}
'''


@pytest.fixture
def project(plugin_dir: Path, tmp_path: Path) -> Path:
    (plugin_dir / "cpu.py").write_text(PLUGIN)
    (tmp_path / "fixture.lp").write_text("cpu,host=a v=1 1\ncpu,host=b v=2 2\n")
    (tmp_path / "input.lp").write_text("".join(f"cpu,host=h{i} v={i} {i}\n" for i in range(5)))
    (tmp_path / "body.json").write_text('{"from": "file"}')
    return tmp_path


def _local(project: Path, *args: str) -> list[str]:
    return [*args, "--local", "--plugin-dir", str(project / "plugins"),
            "--fixture", str(project / "fixture.lp")]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, json.loads(out) if out.strip() else None, err


def test_wal_plugin_runs_locally_over_fixture_data(project: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, body, _ = _run(capsys, _local(project, "test", "wal_plugin", "cpu.py", "-d", "db",
                                          "--lp", "cpu,host=c v=3 3\nmem f=1i 4"))
    assert status == 0
    assert list(body) == ["log_lines", "database_writes", "errors"]
    assert body["log_lines"][1:3] == ["INFO: cpu 1 stored 2", "INFO: mem 1 stored 2"]
    assert body["database_writes"] == {"db": ["seen,table=cpu rows=1i", "seen,table=mem rows=1i"]}


def test_wal_plugin_reads_input_from_a_file_and_replays_it_in_batches(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body, _ = _run(capsys, _local(project, "test", "wal_plugin", "cpu.py", "-d", "db",
                                          "--file", str(project / "input.lp"),
                                          "--batch-lines", "2"))
    assert status == 0
    assert [result["log_lines"][1] for result in body] == [
        "INFO: cpu 2 stored 2", "INFO: cpu 2 stored 2", "INFO: cpu 1 stored 2"]


def test_a_failing_plugin_exits_1_with_logs_and_traceback(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body, _ = _run(capsys, _local(project, "test", "wal_plugin", "cpu.py", "-d", "db",
                                          "--lp", "cpu v=1 1", "--input-arguments", "fail=1"))
    assert status == 1
    assert body["log_lines"][1] == "INFO: cpu 1 stored 2"
    assert body["errors"][0].startswith("error executing plugin: RuntimeError: failing as asked")
    assert "Traceback" in body["errors"][0]


def test_schedule_plugin_runs_locally_with_a_schedule_and_arguments(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body, _ = _run(capsys, [
        "test", "schedule_plugin", "cpu.py", "-d", "fresh", "--schedule", "every:1h",
        "--input-arguments", "a=1,b=x=y", "--input-arguments", "c=", "--local",
        "--plugin-dir", str(project / "plugins")])
    assert status == 0
    assert body["trigger_time"].endswith(":00:00Z")
    assert body["log_lines"][1].endswith("{'a': '1', 'b': 'x=y', 'c': ''}")


def test_request_plugin_runs_locally_on_a_described_request(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body, _ = _run(capsys, _local(
        project, "test", "request_plugin", "cpu.py", "-d", "db", "--query-param", "a=1",
        "--query-param", "b=2=3", "--header", "X-Trace: abc", "--header",
        "Authorization: Bearer x", "--body-file", str(project / "body.json")))
    assert status == 0
    assert body["response"]["status"] == 200
    assert json.loads(body["response"]["body"]) == {
        "q": {"a": "1", "b": "2=3"}, "h": {"x-trace": "abc"}, "body": '{"from": "file"}'}


@pytest.mark.parametrize(("argv", "message"), [
    (["--lp", "cpu v=1 1", "--input-arguments", "novalue"], "must be formatted as key=value"),
    (["--lp", "cpu v=1 1", "--batch-lines", "0"], "--batch-lines must be at least 1"),
    (["--file", "/no/such/file.lp"], "No such file"),
], ids=["bad-arguments", "zero-batch", "missing-input-file"])
def test_usage_problems_exit_2(project: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    status, body, err = _run(capsys, _local(project, "test", "wal_plugin", "cpu.py", "-d", "db",
                                            *argv))
    assert (status, body) == (2, None)
    assert message in err


def test_a_missing_plugin_directory_is_a_usage_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, ["test", "wal_plugin", "cpu.py", "-d", "db", "--lp", "m v=1",
                                   "--local", "--plugin-dir", str(tmp_path / "nope")])
    assert status == 2
    assert "is not a directory" in err


def test_a_missing_plugin_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body, err = _run(capsys, _local(project, "test", "wal_plugin", "gone.py", "-d",
                                            "db", "--lp", "cpu v=1 1"))
    assert (status, body) == (1, None)
    assert "gone.py" in err


def test_wal_plugin_needs_lp_or_file(project: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(_local(project, "test", "wal_plugin", "cpu.py", "-d", "db"))
    assert exited.value.code == 2


@pytest.mark.parametrize(("values", "expected"), [
    ([], None),
    (["a=1"], {"a": "1"}),
    (["a=1,b=2", "c=3"], {"a": "1", "b": "2", "c": "3"}),
    (["url=http://x/?q=1"], {"url": "http://x/?q=1"}),
    (["a=1,,"], {"a": "1"}),
], ids=["absent", "one", "comma-separated-and-repeated", "value-with-equals", "empty-items"])
def test_input_arguments_parse_like_the_reference_cli(values: list[str],
                                                      expected: dict[str, str] | None) -> None:
    assert parse_arguments(values) == expected


def test_input_arguments_need_a_key() -> None:
    with pytest.raises(UsageProblem):
        parse_arguments(["=1"])


# --- against a server ------------------------------------------------------------------------

@pytest.fixture
def server(project: Path) -> Iterator[tuple[str, str]]:
    from engine.http import create_app

    with Engine(project / "plugins") as engine:
        engine.write_lp("db", (project / "fixture.lp").read_text())
        token = make_tokens(engine).admin
        with live_server(create_app(engine)) as url:
            yield url, token


def test_the_same_tests_run_against_a_server(server: tuple[str, str], project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url, token = server
    remote = ["--host", url, "--token", token]
    status, wal, _ = _run(capsys, ["test", "wal_plugin", "cpu.py", "-d", "db", "--lp",
                                   "cpu,host=c v=3 3", *remote])
    assert status == 0
    local_status, local, _ = _run(capsys, _local(project, "test", "wal_plugin", "cpu.py", "-d",
                                                 "db", "--lp", "cpu,host=c v=3 3"))
    assert (local_status, local["database_writes"]) == (0, wal["database_writes"])
    assert wal["log_lines"][1] == local["log_lines"][1] == "INFO: cpu 1 stored 2"
    status, schedule, _ = _run(capsys, ["test", "schedule_plugin", "cpu.py", "-d", "db",
                                        "--schedule", "0 0 * * * *", *remote])
    assert status == 0 and schedule["trigger_time"].endswith(":00:00Z")
    status, request, _ = _run(capsys, ["test", "request_plugin", "cpu.py", "-d", "db",
                                       "--query-param", "a=1", "--body", "hi", *remote])
    assert status == 0 and json.loads(request["response"]["body"])["body"] == "hi"
    status, batches, _ = _run(capsys, ["test", "wal_plugin", "cpu.py", "-d", "db", "--file",
                                       str(project / "input.lp"), "--batch-lines", "3", *remote])
    assert status == 0 and len(batches) == 2


def test_server_side_failures_and_refusals(server: tuple[str, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url, token = server
    status, body, _ = _run(capsys, ["test", "wal_plugin", "cpu.py", "-d", "db", "--lp",
                                    "cpu v=1 1", "--input-arguments", "fail=yes", "--host", url,
                                    "--token", token])
    assert status == 1
    assert body["errors"][0].startswith("error executing plugin: RuntimeError")
    status, body, err = _run(capsys, ["test", "wal_plugin", "cpu.py", "-d", "db", "--lp",
                                      "cpu v=1 1", "--host", url])
    assert (status, body) == (1, None)
    assert "401" in err
