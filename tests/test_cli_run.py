"""Specification of `processing-engine run trigger`: run a schedule trigger once, now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import Engine
from engine.cli import main

PLUGIN = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("called for", call_time.isoformat())
    if (args or {}).get("fail"):
        raise RuntimeError("refusing to run")
    influxdb3_local.write(LineBuilder("ran").tag("by", "cli").int64_field("n", 1)
                          .time_ns(int(call_time.timestamp()) * 10**9))
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "job.py").write_text(PLUGIN)
    (plugin_dir / "wal.py").write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n")
    data_dir = tmp_path / "data"
    with Engine(plugin_dir, data_dir=data_dir, background=False) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "job", plugin_filename="job.py",
                              trigger_specification="cron:0 0 6 * * *")
        engine.create_trigger("db", "broken", plugin_filename="job.py",
                              trigger_specification="every:1h",
                              trigger_arguments={"fail": "yes"}, disabled=True)
        engine.create_trigger("db", "wal", plugin_filename="wal.py",
                              trigger_specification="all_tables")
    return plugin_dir, data_dir


def _run(capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path],
         *argv: str) -> tuple[int, str, str]:
    plugin_dir, data_dir = setup
    status = main(["run", "trigger", "--data-dir", str(data_dir), "-d", "db",
                   "--plugin-dir", str(plugin_dir), *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_runs_the_trigger_prints_outcome_and_log_lines_and_keeps_its_writes(
        capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path]) -> None:
    status, out, err = _run(capsys, setup, "job", "--call-time", "2025-03-01T06:00:00")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(r"trigger job: success \(1 attempt, 1 lines written, [0-9.]+ ms\)",
                        lines[0])
    assert lines[1:3] == [
        "  INFO: starting execution with scheduled time 2025-03-01 06:00:00 UTC",
        "  INFO: called for 2025-03-01T06:00:00",
    ]
    assert lines[3].startswith("  INFO: finished execution in ")
    _, data_dir = setup
    assert main(["query", "--data-dir", str(data_dir), "-d", "db", "--format", "jsonl",
                 "SELECT by, n, time FROM ran"]) == 0
    assert capsys.readouterr().out == '{"by": "cli", "n": 1, "time": "2025-03-01T06:00:00"}\n'


def test_an_aware_call_time_is_converted_to_utc(capsys: pytest.CaptureFixture[str],
                                               setup: tuple[Path, Path]) -> None:
    status, out, _ = _run(capsys, setup, "job", "--call-time", "2025-03-01T08:00:00+02:00")
    assert status == 0
    assert "  INFO: called for 2025-03-01T06:00:00" in out.splitlines()


def test_a_failing_plugin_exits_1_with_its_traceback(capsys: pytest.CaptureFixture[str],
                                                     setup: tuple[Path, Path]) -> None:
    status, out, err = _run(capsys, setup, "broken")
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("trigger broken: error (1 attempt, 0 lines written, ")
    assert lines[0].endswith("ms): RuntimeError: refusing to run")
    assert "  ERROR: error executing schedule plugin: RuntimeError: refusing to run" in lines
    assert "  ERROR: error running scheduled plugin: RuntimeError: refusing to run" in lines
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().endswith("RuntimeError: refusing to run")


@pytest.mark.parametrize("name, message", [
    ("missing", "error: no trigger named 'missing' in database 'db'"),
    ("wal", "error: "),
], ids=["unknown-trigger", "not-a-schedule"])
def test_triggers_that_cannot_be_run_exit_1(capsys: pytest.CaptureFixture[str],
                                            setup: tuple[Path, Path], name: str,
                                            message: str) -> None:
    status, out, err = _run(capsys, setup, name)
    assert (status, out) == (1, "")
    assert err.startswith(message)


def test_a_bad_call_time_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                          setup: tuple[Path, Path]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(capsys, setup, "job", "--call-time", "tomorrow")
    assert exit_info.value.code == 2
    assert "not an ISO 8601 time: 'tomorrow'" in capsys.readouterr().err


def test_run_without_a_kind_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "trigger" in capsys.readouterr().err
