"""The plugin SDK's `manifest.toml`: reading it, and the Python requirements it declares."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from .errors import ManifestError

MANIFEST_FILE = "manifest.toml"
SUPPORTED_SCHEMA_MAJOR = 1
MAX_MANIFEST_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class PluginManifest:
    """What the engine reads from a `manifest.toml` (unknown fields are ignored, as the SDK does).

    Attributes:
        path: The manifest file.
        schema_version: `manifest_schema_version`, e.g. `1.3`.
        name: `[plugin] name`, or None.
        version: `[plugin] version`, or None.
        triggers: `[plugin] triggers` (entry points such as `process_writes`).
        python_requirements: `[dependencies] python`, PEP 508 requirements, in file order.
        database_version: `[dependencies] database_version`, or None.
    """

    path: Path
    schema_version: str
    name: str | None = None
    version: str | None = None
    triggers: tuple[str, ...] = ()
    python_requirements: tuple[str, ...] = ()
    database_version: str | None = None


def find_manifest(plugin_path: str | os.PathLike[str]) -> Path | None:
    """The manifest of a plugin: `<package>/manifest.toml`, or beside a single-file plugin.

    The plugin SDK's layout is a folder holding `manifest.toml` and the entry point, either
    `__init__.py` or a single `.py` file, so both a package and a file inside such a folder count.
    """
    path = Path(plugin_path)
    candidate = (path if path.is_dir() else path.parent) / MANIFEST_FILE
    return candidate if candidate.is_file() else None


def read_manifest(path: str | os.PathLike[str]) -> PluginManifest:
    """Read and check a `manifest.toml`.

    Checked: TOML syntax, `manifest_schema_version` (`1.<minor>`), the types of the fields the
    engine reads, and that each `[dependencies] python` entry parses as PEP 508.

    Raises:
        ManifestError: The file is unreadable or breaks one of those rules.
    """
    manifest = Path(path)
    document = _load(manifest)
    plugin = _table(manifest, document, "plugin")
    dependencies = _table(manifest, document, "dependencies")
    return PluginManifest(
        path=manifest,
        schema_version=_schema_version(manifest, document.get("manifest_schema_version")),
        name=_optional_str(manifest, plugin, "plugin.name"),
        version=_optional_str(manifest, plugin, "plugin.version"),
        triggers=_str_list(manifest, plugin, "plugin.triggers"),
        python_requirements=_requirements(manifest, dependencies),
        database_version=_optional_str(manifest, dependencies, "dependencies.database_version"),
    )


def plugin_manifest(plugin_path: str | os.PathLike[str]) -> PluginManifest | None:
    """The checked manifest of a plugin, or None when it has none.

    Raises:
        ManifestError: It has one and it is invalid.
    """
    found = find_manifest(plugin_path)
    return read_manifest(found) if found is not None else None


def manifest_requirements(plugin_path: str | os.PathLike[str]) -> list[str]:
    """The Python requirements a plugin's manifest declares (empty without a manifest).

    Raises:
        ManifestError: The manifest is invalid.
    """
    manifest = plugin_manifest(plugin_path)
    return list(manifest.python_requirements) if manifest is not None else []


def _load(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(str(path), f"it is larger than {MAX_MANIFEST_BYTES} bytes")
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(str(path), "it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(str(path), f"it is not valid TOML ({exc})") from None
    except OSError as exc:
        raise ManifestError(str(path), f"it cannot be read ({exc.strerror})") from None


def _schema_version(path: Path, value: object) -> str:
    if value is None:
        raise ManifestError(str(path), "manifest_schema_version is missing")
    if not isinstance(value, str):
        raise ManifestError(str(path), "manifest_schema_version must be a string such as \"1.3\"")
    major, dot, minor = value.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ManifestError(str(path), f"manifest_schema_version {value!r} is not <major>.<minor>")
    if int(major) != SUPPORTED_SCHEMA_MAJOR:
        raise ManifestError(
            str(path), f"manifest_schema_version {value!r} has major version {int(major)}; this "
            f"engine reads major version {SUPPORTED_SCHEMA_MAJOR}")
    return value


def _table(path: Path, document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ManifestError(str(path), f"[{key}] must be a table")
    return value


def _optional_str(path: Path, table: Mapping[str, Any], dotted: str) -> str | None:
    value = table.get(dotted.rpartition(".")[2])
    if value is not None and not isinstance(value, str):
        raise ManifestError(str(path), f"{dotted} must be a string")
    return value


def _str_list(path: Path, table: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
    value = table.get(dotted.rpartition(".")[2], [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(str(path), f"{dotted} must be a list of strings")
    return tuple(value)


def _requirements(path: Path, dependencies: Mapping[str, Any]) -> tuple[str, ...]:
    requirements = _str_list(path, dependencies, "dependencies.python")
    for text in requirements:
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            detail = str(exc).splitlines()[0]
            raise ManifestError(
                str(path), f"dependencies.python entry {text!r} is not PEP 508 ({detail})",
            ) from None
    return requirements
