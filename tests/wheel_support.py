"""Helpers for plugin environment tests: tiny wheels written by hand, and a local package index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(directory: Path, name: str, version: str, files: Mapping[str, str],
                requires: Sequence[str] = ()) -> Path:
    """Write a pure-Python wheel `name-version-py3-none-any.whl` into `directory`.

    Args:
        directory: Where the wheel goes (created if missing).
        name: The distribution name (underscores, as in the file name).
        version: Its version.
        files: Archive paths (e.g. `pkg/__init__.py`) and their text.
        requires: `Requires-Dist` entries.
    """
    directory.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {item}\n" for item in requires)
    entries = {path: text.encode() for path, text in files.items()}
    entries[f"{info}/METADATA"] = metadata.encode()
    entries[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                b"Tag: py3-none-any\n")
    record = [_record_line(path, data) for path, data in entries.items()] + [f"{info}/RECORD,,"]
    entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
    return wheel


def simple_index(root: Path, wheels: Iterable[Path]) -> str:
    """Write a PEP 503 "simple" index over `wheels` under `root`; returns its file:// URL."""
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        projects.setdefault(canonicalize_name(wheel.name.split("-")[0]), []).append(wheel)
    root.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name in sorted(projects))
    (root / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    for name, files in projects.items():
        (root / name).mkdir(exist_ok=True)
        anchors = "".join(f'<a href="{f.resolve().as_uri()}">{f.name}</a>\n' for f in files)
        (root / name / "index.html").write_text(
            f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n")
    return root.resolve().as_uri() + "/"
