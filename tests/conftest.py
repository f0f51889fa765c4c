"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs with HYPOTHESIS_PROFILE=ci (.ci/run): the same examples on every run, so a red CI
# always means the code changed. Runs elsewhere draw new examples each time and keep finding
# new cases; a failure prints the example to pin with @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture
def lp_corpus_path() -> Path:
    """The line-protocol conformance corpus beside the checkout."""
    path = SHARED / "lp-corpus" / "corpus.json"
    if not path.exists():
        pytest.fail(f"line-protocol corpus missing at {path}")
    return path


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """An empty plugin directory."""
    path = tmp_path / "plugins"
    path.mkdir()
    return path
