"""The options an `Engine` is built with: defaults, the accepted extras, and their validation."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import InvalidEngineOption, UnknownEngineOption


@dataclass(frozen=True, slots=True)
class ExtraOption:
    """One accepted `**more_options` keyword: its default and what values it takes."""

    default: Any
    check: Callable[[Any], bool]
    expected: str


def _positive_int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def _positive_int(value: Any) -> bool:
    return value is not None and _positive_int_or_none(value)


def _path_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str | os.PathLike)


def _url_or_none(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, str) and "://" in value and not any(c.isspace() for c in value)


def _paths(value: Any) -> bool:
    if isinstance(value, str | os.PathLike):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, str | os.PathLike) for v in value)


# Extend this table to accept a new engine option; everything else is refused by name.
EXTRA_OPTIONS: Mapping[str, ExtraOption] = MappingProxyType({
    "wal_max_buffer_rows": ExtraOption(
        None, _positive_int_or_none, "a whole number of rows > 0, or None for no limit"),
    "memory_budget_bytes": ExtraOption(
        None, _positive_int_or_none, "a whole number of bytes > 0, or None for no limit"),
    "package_manager": ExtraOption(
        "discover", lambda v: v in ("discover", "pip", "uv", "disabled"),
        "one of 'discover', 'pip', 'uv', 'disabled'"),
    "virtual_env_location": ExtraOption(
        None, _path_or_none, "a path, or None for <plugin_dir>/.venv"),
    "log_buffer_size": ExtraOption(
        10_000, _positive_int, "a whole number of log entries > 0"),
    "package_index_url": ExtraOption(
        None, _url_or_none, "a package index URL such as https://pypi.example/simple, or None "
        "for pip's configured index"),
    "package_find_links": ExtraOption(
        (), _paths, "a directory (or list of directories) of wheels to install from; without "
        "package_index_url, installs then use only these (pip --no-index)"),
    "allow_unsafe_package_specs": ExtraOption(
        False, lambda v: isinstance(v, bool), "True to let installs pass pip options, URLs and "
        "paths, or False (default) to accept only PEP 508 requirements"),
})


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineOptions:
    """Validated constructor arguments of `Engine`.

    Attributes:
        plugin_dir: Resolved plugin directory, or None when the engine has none.
        data_dir: Directory for catalog, WAL and data, or None to keep everything in memory.
        wal_flush_interval: Seconds between WAL flushes in background mode.
        node_id: This engine's node id (for `node_spec`).
        background: Whether to start threads (False: tests drive time and flushes).
        watch_plugins: Whether to reload plugins when their files change.
        extra: Every entry of `EXTRA_OPTIONS`, given or defaulted.
    """

    plugin_dir: Path | None
    data_dir: Path | None
    wal_flush_interval: float
    node_id: str
    background: bool
    watch_plugins: bool
    extra: Mapping[str, Any]

    @classmethod
    def build(cls, plugin_dir: str | os.PathLike[str] | None, *,
              data_dir: str | os.PathLike[str] | None, wal_flush_interval: float, node_id: str,
              background: bool, watch_plugins: bool, more_options: Mapping[str, Any],
              ) -> EngineOptions:
        """Validate every argument and fill in the defaults of the extras.

        Raises:
            UnknownEngineOption: A keyword in `more_options` is not in `EXTRA_OPTIONS`.
            InvalidEngineOption: A value is of the wrong kind or out of range.
        """
        return cls(
            plugin_dir=_plugin_dir(plugin_dir),
            data_dir=_data_dir(data_dir),
            wal_flush_interval=_interval(wal_flush_interval),
            node_id=_node_id(node_id),
            background=_flag("background", background),
            watch_plugins=_flag("watch_plugins", watch_plugins),
            extra=_extras(more_options),
        )


def _plugin_dir(value: str | os.PathLike[str] | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not Path(value).is_dir():
        raise InvalidEngineOption("plugin_dir", value, "an existing directory, or None")
    return Path(value).resolve()


def _data_dir(value: str | os.PathLike[str] | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or (Path(value).exists()
                                                      and not Path(value).is_dir()):
        raise InvalidEngineOption("data_dir", value, "a directory path (created if missing), "
                                  "or None to keep everything in memory")
    return Path(value)


def _interval(value: float) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise InvalidEngineOption("wal_flush_interval", value, "a number of seconds > 0")
    return float(value)


def _node_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEngineOption("node_id", value, "a non-empty string")
    return value


def _flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise InvalidEngineOption(name, value, "True or False")
    return value


def _extras(given: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = [name for name in given if name not in EXTRA_OPTIONS]
    if unknown:
        accepted = ["plugin_dir", "data_dir", "wal_flush_interval", "node_id", "clock",
                    "background", "watch_plugins", *sorted(EXTRA_OPTIONS)]
        raise UnknownEngineOption(unknown, accepted)
    values: dict[str, Any] = {}
    for name, option in EXTRA_OPTIONS.items():
        value = given.get(name, option.default)
        if not option.check(value):
            raise InvalidEngineOption(name, value, option.expected)
        values[name] = value
    return MappingProxyType(values)
