"""Specification of the data directory lock: one engine per directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.datadir import LOCK_FILE, lock_data_dir, release_lock
from engine.errors import DataDirInUse


def test_a_second_lock_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "data"
    fd = lock_data_dir(directory)
    assert (directory / LOCK_FILE).exists()
    with pytest.raises(DataDirInUse, match="two writers would corrupt"):
        lock_data_dir(directory)
    release_lock(fd)
    release_lock(lock_data_dir(directory))

