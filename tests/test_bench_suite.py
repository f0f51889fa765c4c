"""The benchmark suite (`python -m benchmarks`): quick runs, rows, failures, charts, progress."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from benchmarks import figures, report, suite
from benchmarks.progress import Progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_suite(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_quick_run_reports_every_selected_figure_with_json_and_charts(tmp_path: Path) -> None:
    # The lighter modules; bench_ingest and bench_dispatch take ~50 s more in --quick.
    done = run_suite("--quick", "--only", "P4,P5,P6,LP", "--output", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads((tmp_path / "results.json").read_text())
    ids = [row["id"] for row in payload["rows"]]
    assert ids == ["P4", "P4-p99", "P5-lateness", "P5-cpu", "P6", "LP"]
    for row in payload["rows"]:
        assert isinstance(row["ratio"], int | float) and row["ratio"] > 0, row
        assert row["bar"].startswith((">= ", "<= ")), row
        assert isinstance(row["meets"], bool)
        assert row["meets"] == (report.headroom(row) >= 1.0), row
    assert payload["failures"] == []
    assert payload["quick"] is True
    assert payload["machine"]["nproc"] >= 1 and payload["machine"]["python"].startswith("3.")
    assert set(payload["raw"]) == {"bench_http", "bench_scheduler", "bench_reload",
                                   "bench_lineprotocol"}
    for name in report.CHARTS:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"| {i} |" in summary for i in ids)
    assert "MEETS" in done.stdout or "MISSES" in done.stdout
    assert "4/4 bench_lineprotocol (LP)" in done.stderr  # the progress lines
    assert (tmp_path / "logs" / "bench_reload.log").read_text().startswith("$ ")


def test_a_failing_module_is_recorded_and_the_suite_exits_non_zero(tmp_path: Path) -> None:
    done = run_suite("--quick", "--only", "P6,LP", "--timeout", "0.5", "--output", str(tmp_path))
    assert done.returncode == 1
    payload = json.loads((tmp_path / "results.json").read_text())
    assert [f["module"] for f in payload["failures"]] == ["bench_reload", "bench_lineprotocol"]
    assert all("timed out after 0.5 s" in f["error"] for f in payload["failures"])
    assert payload["rows"] == []
    assert "FAILED" in done.stdout and "FAILED" in done.stderr
    assert all((tmp_path / name).exists() for name in report.CHARTS)


@pytest.mark.parametrize(("only", "modules"), [
    (None, [b.module for b in suite.BENCHMARKS]),
    ("P1", ["bench_ingest"]),
    ("P3", ["bench_dispatch"]),
    ("p6, P4", ["bench_http", "bench_reload"]),
    ("P2,P7,P8", ["bench_ingest"]),
    ("bench_scheduler", ["bench_scheduler"]),
], ids=["all", "P1", "P3", "order-of-the-suite", "one-module-once", "module-name"])
def test_only_selects_the_modules_giving_the_figures(only: str | None,
                                                     modules: list[str]) -> None:
    assert [b.module for b in suite.select(only)] == modules


def test_only_refuses_unknown_figures() -> None:
    with pytest.raises(SystemExit, match=r"unknown P9; accepted: .*P1.*P8"):
        suite.select("P1,P9")


def test_every_bar_of_product_section_7_has_a_benchmark() -> None:
    given = {f for b in suite.BENCHMARKS for f in b.figures}
    assert {f"P{n}" for n in range(1, 9)} <= given
    assert set(figures.NORMALISERS) == {b.module for b in suite.BENCHMARKS}


@pytest.mark.parametrize(("bar", "value", "expected"), [
    (">= 2.0", 3.0, 1.5),
    (">= 0.6", 0.3, 0.5),
    ("<= 1.15", 1.15, 1.0),
    ("<= 20 ms", 10.0, 2.0),
    ("<= 15 % of a core", 30.0, 0.5),
    ("about 3", 1.0, None),
], ids=["above-lower-bound", "below-lower-bound", "at-upper-bound", "under-upper-bound-ms",
        "over-upper-bound-percent", "unparsable-bar"])
def test_headroom_is_at_least_one_exactly_when_the_bar_is_met(bar: str, value: float,
                                                               expected: float | None) -> None:
    assert report.headroom({"bar": bar, "ratio": value}) == expected


def test_a_result_lacking_a_figure_names_the_module_and_key() -> None:
    with pytest.raises(figures.MissingFigure, match="bench_ingest returned no "
                       "'anchor_lpp_parse_lines_per_s'"):
        figures.ingest({"lines": 10})
    with pytest.raises(figures.MissingFigure, match="'bare_starlette'"):
        figures.http({"P4": {"ratio": 1.0, "bar": ">= 0.6", "meets": True}})


def test_markdown_lists_rows_failures_and_the_machine() -> None:
    payload: dict[str, Any] = {
        "started": "2025-01-02T03:04:05+00:00", "quick": False, "machine": report.machine(),
        "rows": [figures.row("P6", "reload", 42.0, "<= 150 ms", True, unit="ms"),
                 figures.row("P4", "http", 0.5, ">= 0.6", False)],
        "failures": [{"module": "bench_ingest", "figures": ["P1", "P2"], "error": "boom\nlast"}],
    }
    text = report.markdown(payload)
    assert text.startswith("Measured 2025-01-02 on ")
    assert "| P6 | reload | 42.0 ms | <= 150 ms | yes |" in text
    assert "| P4 | http | 0.50x | >= 0.6 | **no** |" in text
    assert "| P1, P2 | bench_ingest failed: last | | | **failed** |" in text


def test_progress_prints_a_line_per_step_off_a_terminal() -> None:
    stream = io.StringIO()
    with Progress([1.0, 3.0], stream=stream, live=False) as progress:
        progress.start("first")
        progress.finish("ok")
        assert progress.fraction() == 0.25
        progress.start("second")
        progress.finish("FAILED")
        assert progress.fraction() == 1.0
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("[------------------------]   0% 1/2 first")
    assert lines[1].startswith("[######------------------]  25% 1/2 first")
    assert " ok in " in lines[1]
    assert lines[3].startswith("[########################] 100% 2/2 second")
    assert " FAILED in " in lines[3]


def test_progress_redraws_one_line_on_a_terminal() -> None:
    stream = io.StringIO()
    with Progress([1.0], stream=stream, live=True, interval=0.01) as progress:
        progress.start("only")
        progress.finish("ok")
    text = stream.getvalue()
    assert text.startswith("\r\x1b[K[")
    assert text.endswith("\n") and "100% 1/1 only" in text
