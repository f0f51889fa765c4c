"""Durability primitives shared by everything that writes files: fsync of a folder's entries."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(path: Path) -> None:
    """Make a creation, rename or removal inside `path` durable (raises `OSError` on failure)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
