"""Shared fixtures for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

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
