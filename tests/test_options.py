"""Engine constructor options: defaults, the accepted extras and their validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.errors import InvalidEngineOption, UnknownEngineOption
from engine.options import EXTRA_OPTIONS, EngineOptions


def _build(plugin_dir: Any = None, **overrides: Any) -> EngineOptions:
    values: dict[str, Any] = {"data_dir": None, "wal_flush_interval": 1.0, "node_id": "local",
                              "background": True, "watch_plugins": True, "more_options": {}}
    values.update(overrides)
    return EngineOptions.build(plugin_dir, **values)


def test_defaults(plugin_dir: Path) -> None:
    options = _build(plugin_dir)
    assert options.plugin_dir == plugin_dir.resolve()
    assert (options.data_dir, options.wal_flush_interval, options.node_id) == (None, 1.0, "local")
    assert (options.background, options.watch_plugins) == (True, True)
    assert dict(options.extra) == {name: opt.default for name, opt in EXTRA_OPTIONS.items()}


def test_extras_are_accepted_and_kept(tmp_path: Path) -> None:
    extras = {"wal_max_buffer_rows": 1000, "memory_budget_bytes": 2**30,
              "package_manager": "disabled", "virtual_env_location": tmp_path / "venv",
              "log_buffer_size": 50, "package_index_url": "https://pypi.example/simple",
              "package_find_links": [str(tmp_path / "wheels")],
              "allow_unsafe_package_specs": True}
    assert dict(_build(more_options=extras).extra) == extras


def test_unknown_options_are_refused_by_name_listing_the_accepted_ones() -> None:
    with pytest.raises(UnknownEngineOption) as caught:
        Engine(flush_every=3, colour="red")
    message = str(caught.value)
    assert "unknown Engine option(s): colour, flush_every" in message
    for name in ("plugin_dir", "data_dir", "wal_flush_interval", "node_id", "clock",
                 "background", "watch_plugins", *EXTRA_OPTIONS):
        assert name in message
    assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"plugin_dir": "/definitely/not/here"}, "plugin_dir='/definitely/not/here'"),
        ({"wal_flush_interval": 0}, "wal_flush_interval=0: expected a number of seconds > 0"),
        ({"wal_flush_interval": float("nan")}, "wal_flush_interval=nan"),
        ({"wal_flush_interval": "1s"}, "wal_flush_interval='1s'"),
        ({"node_id": ""}, "node_id='': expected a non-empty string"),
        ({"background": "yes"}, "background='yes': expected True or False"),
        ({"watch_plugins": 1}, "watch_plugins=1"),
        ({"more_options": {"wal_max_buffer_rows": 0}}, "wal_max_buffer_rows=0"),
        ({"more_options": {"memory_budget_bytes": True}}, "memory_budget_bytes=True"),
        ({"more_options": {"package_manager": "conda"}}, "one of 'discover', 'pip'"),
        ({"more_options": {"virtual_env_location": 3}}, "virtual_env_location=3"),
        ({"more_options": {"log_buffer_size": None}}, "log_buffer_size=None"),
        ({"more_options": {"package_index_url": "pypi.org"}}, "package_index_url='pypi.org'"),
        ({"more_options": {"package_index_url": "https://a b"}}, "package_index_url="),
        ({"more_options": {"package_find_links": [3]}}, "package_find_links=\\[3\\]"),
        ({"more_options": {"allow_unsafe_package_specs": 1}}, "allow_unsafe_package_specs=1"),
    ],
    ids=["missing-plugin-dir", "zero-interval", "nan-interval", "str-interval", "empty-node",
         "background-str", "watch-int", "zero-rows", "bool-bytes", "unknown-manager",
         "venv-int", "log-none", "index-url-no-scheme", "index-url-space",
         "find-links-int", "unsafe-int"],
)
def test_bad_option_values_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    plugin_dir = overrides.pop("plugin_dir", None)
    with pytest.raises(InvalidEngineOption, match=fragment):
        _build(plugin_dir, **overrides)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(InvalidEngineOption, match="data_dir"):
        _build(data_dir=file)


def test_a_missing_data_dir_is_created_by_the_engine(tmp_path: Path) -> None:
    engine = Engine(data_dir=tmp_path / "new" / "data")
    engine.create_database("db1")
    assert (tmp_path / "new" / "data" / "catalog.json").is_file()
