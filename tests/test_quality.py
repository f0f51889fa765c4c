"""Lint and type checks run as part of the suite, so CI fails when either is unclean."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "engine", "tests", "benchmarks",
                  "plugins_examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_engine() -> None:
    result = _run(sys.executable, "-m", "mypy", "engine")
    assert result.returncode == 0, result.stdout + result.stderr
