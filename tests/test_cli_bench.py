"""`processing-engine bench`: WAL, request and schedule specs on tiny plugins, text and JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

WAL = """
def process_writes(influxdb3_local, table_batches, args=None):
    rows = sum(len(b["rows"]) for b in table_batches)
    influxdb3_local.info("rows", rows, (args or {}).get("tag", ""))
"""
REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if (query_parameters.get("x") != "1" or request_body != b"payload"
            or {k.lower(): v for k, v in request_headers.items()}.get("x-probe") != "yes"):
        raise ValueError(f"unexpected {query_parameters!r} {request_headers!r} {request_body!r}")
    return {"ok": True}
"""
SCHEDULE = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("tick", call_time.isoformat())
"""
FAILING = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    raise RuntimeError("plugin is broken")
"""


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    for name, source in (("wal.py", WAL), ("req.py", REQUEST), ("sched.py", SCHEDULE),
                         ("broken.py", FAILING)):
        (plugin_dir / name).write_text(source)
    return plugin_dir


def bench_json(capsys: pytest.CaptureFixture[str], *args: str, status: int = 0) -> dict[str, Any]:
    assert main(["bench", *args, "--format", "json"]) == status
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_generated_lines_for_a_wal_spec(plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = bench_json(capsys, str(plugins / "wal.py"), "--trigger-spec", "table:cpu",
                        "--generate", "450", "--batch-lines", "100", "--template",
                        "cpu,host=h{i%5} usage={rand:100},count={i}i {time}",
                        "--trigger-arguments", "tag=t1")
    assert (report["kind"], report["operations"], report["lines"], report["runs"]) == (
        "wal", 5, 450, 5)
    assert report["failures"] == 0
    assert 0 < report["plugin_seconds"] <= report["busy_seconds"]
    assert report["overhead_seconds"] == pytest.approx(
        report["busy_seconds"] - report["plugin_seconds"], abs=1e-5)
    assert report["lines_per_second"] > 0
    assert set(report["latency"]) == {"p50", "p95", "p99", "max", "mean"}


def test_a_line_protocol_file_relative_to_the_plugin_dir(
        plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "recorded.lp"
    data.write_text("".join(f"mem,host=a used={n}i {n}\n" for n in range(250)))
    report = bench_json(capsys, "wal.py", "--plugin-dir", str(plugins), "-s", "all_tables",
                        "--lp-file", str(data), "--batch-lines", "100", "--warmup", "0")
    assert (report["operations"], report["lines"], report["runs"]) == (3, 250, 3)


def test_request_load_with_query_headers_body_and_concurrency(
        plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"payload")
    report = bench_json(capsys, str(plugins / "req.py"), "-s", "request:probe", "--requests",
                        "40", "--concurrency", "3", "--method", "POST", "--query", "x=1",
                        "--header", "X-Probe: yes", "--body", f"@{body}")
    assert (report["kind"], report["operations"], report["runs"], report["concurrency"]) == (
        "request", 40, 40, 3)
    assert report["failures"] == 0  # the plugin raises on any other query, header or body


def test_schedule_spec_runs_the_plugin_n_times(plugins: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    report = bench_json(capsys, str(plugins / "sched.py"), "-s", "cron:0 0 6 * * 1-5",
                        "--calls", "12")
    assert (report["kind"], report["operations"], report["runs"], report["failures"]) == (
        "schedule", 12, 12, 0)


def test_text_report_shows_throughput_latency_and_the_time_split(
        plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(plugins / "wal.py"), "-s", "all_tables", "--generate", "300",
                 "--batch-lines", "100"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "wal.py on all_tables: 3 writes (300 lines)"
    assert lines[1].startswith("throughput") and "lines/s" in lines[1]
    assert lines[2].startswith("latency ms") and "p99" in lines[2]
    assert lines[3].startswith("plugin ms")
    assert "plugin " in lines[4] and "engine overhead" in lines[4] and "3 plugin runs" in lines[4]
    assert lines[5].split() == ["failures", "0"]
    assert "bench: 100% (3/3)" in captured.err  # progress, one line per quarter off a terminal


def test_failures_give_status_1_with_the_first_one(plugins: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    report = bench_json(capsys, str(plugins / "broken.py"), "-s", "request:b", "--requests",
                        "4", "--warmup", "0", status=1)
    assert report["failures"] == 4
    assert report["first_failure"].startswith("status 500")
    assert "plugin is broken" in report["first_failure"]


def test_no_progress_and_plugin_logs_stay_quiet(plugins: Path, capsys: pytest.CaptureFixture[str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine")
    assert main(["bench", str(plugins / "broken.py"), "-s", "request:b", "--requests", "2",
                 "--no-progress"]) == 1
    assert capsys.readouterr().err == ""
    assert not [r for r in caplog.records if r.name == "engine.plugins"]
    assert logging.getLogger("engine.plugins").level == logging.NOTSET  # restored


@pytest.mark.parametrize(("args", "message"), [
    (["wal.py", "-s", "all_tables"], "all_tables needs --lp-file FILE or --generate N"),
    (["wal.py", "-s", "all_tables", "--generate", "5", "--template", "m v={nope}"],
     "unknown placeholder {nope}"),
    (["wal.py", "-s", "all_tables", "--generate", "5", "--batch-lines", "0"],
     "--batch-lines must be at least 1"),
    (["missing.py", "-s", "all_tables", "--generate", "5"], "plugin 'missing.py' not found"),
    (["wal.py", "-s", "sometimes", "--generate", "5"], "invalid trigger specification"),
    (["req.py", "-s", "request:x", "--requests", "0"], "0 calls requested"),
    (["req.py", "-s", "request:x", "--query", "novalue"], "--query 'novalue' must be formatted"),
    (["wal.py", "-s", "all_tables", "--generate", "1", "--trigger-arguments", "x"],
     "must be formatted as key=value"),
], ids=["wal-without-load", "bad-template", "zero-batch", "missing-plugin", "bad-spec",
        "zero-requests", "bad-query", "bad-arguments"])
def test_usage_errors_exit_2_with_a_message(plugins: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], message: str) -> None:
    assert main(["bench", *args, "--plugin-dir", str(plugins)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err
