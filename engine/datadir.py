"""The data directory: where each part lives, and the lock that keeps one engine per directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import DataDirInUse

WAL_DIR = "wal"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = "LOCK"


def lock_data_dir(path: Path) -> int:
    """Take the data directory's exclusive lock (released by the kernel if the process dies).

    Raises:
        DataDirInUse: another engine holds it.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DataDirInUse(str(path)) from None
    return fd


def release_lock(fd: int | None) -> None:
    """Give the lock back (closing its descriptor); None means there was none."""
    if fd is not None:
        os.close(fd)
