"""pytest plugin `processing_engine`: fixtures for testing InfluxDB 3 plugins, engine loaded lazily.

Fixtures:
    plugin_dir: The directory holding the plugins under test. From the nearest
        `@pytest.mark.plugin_dir("path")` (relative to the test file), else the ini option
        `processing_engine_plugin_dir` (relative to the ini file), else the rootdir. Override
        the fixture in a conftest.py to choose it yourself.
    manual_clock: A `ManualClock` at 2025-01-01T00:00:00Z; move it with `advance(seconds)`.
    engine: A started in-memory `Engine` over `plugin_dir` with no background threads, on
        `manual_clock`; stopped at teardown.
    plugin_harness: A `PluginHarness` over `engine`. `@pytest.mark.plugin_harness(database=...,
        apply_writes=True, cache_name=...)` configures it.
    make_plugin_harness: A factory taking `PluginHarness` keyword arguments (e.g. another
        `plugin_dir`), each harness closed at teardown.

Nothing from the engine is imported until a fixture is used, so loading this plugin (pytest does
it at start-up once the package is installed) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..clock import ManualClock
    from ..engine import Engine
    from .harness import PluginHarness

INI_PLUGIN_DIR = "processing_engine_plugin_dir"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini option naming the plugin directory."""
    parser.addini(
        INI_PLUGIN_DIR,
        "directory holding the plugins under test, relative to the ini file (default: the rootdir)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line(
        "markers",
        "plugin_dir(path): the plugin directory for this test (relative to the test file)",
    )
    config.addinivalue_line(
        "markers",
        "plugin_harness(**options): keyword arguments for the plugin_harness fixture "
        "(database, apply_writes, cache_name)",
    )


@pytest.fixture
def plugin_dir(request: pytest.FixtureRequest) -> Path:
    """The directory holding the plugins under test."""
    marker = request.node.get_closest_marker("plugin_dir")
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError("@pytest.mark.plugin_dir takes one argument: the path")
        return (request.path.parent / str(marker.args[0])).resolve()
    configured = str(request.config.getini(INI_PLUGIN_DIR) or "")
    if configured:
        base = request.config.inipath.parent if request.config.inipath else request.config.rootpath
        return (base / configured).resolve()
    return request.config.rootpath.resolve()


@pytest.fixture
def manual_clock() -> ManualClock:
    """A manual clock at 2025-01-01T00:00:00Z."""
    from ..clock import ManualClock
    from .harness import DEFAULT_START

    return ManualClock(DEFAULT_START)


@pytest.fixture
def engine(plugin_dir: Path, manual_clock: ManualClock) -> Iterator[Engine]:
    """A started in-memory engine over `plugin_dir`, driven by `manual_clock`."""
    from ..engine import Engine

    running = Engine(plugin_dir, background=False, watch_plugins=False, clock=manual_clock)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def plugin_harness(request: pytest.FixtureRequest, engine: Engine) -> Iterator[PluginHarness]:
    """A plugin harness over the `engine` fixture."""
    from .harness import PluginHarness

    marker = request.node.get_closest_marker("plugin_harness")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    harness = PluginHarness(engine=engine, **options)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def make_plugin_harness(
    plugin_dir: Path, manual_clock: ManualClock
) -> Iterator[Callable[..., PluginHarness]]:
    """A factory of harnesses: `make_plugin_harness(plugin_dir=..., database=..., ...)`."""
    from .harness import PluginHarness

    made: list[PluginHarness] = []

    def make(**options: Any) -> PluginHarness:
        options.setdefault("plugin_dir", plugin_dir)
        if "engine" not in options:
            options.setdefault("clock", manual_clock)
        made.append(PluginHarness(**options))
        return made[-1]

    try:
        yield make
    finally:
        for harness in made:
            harness.close()
