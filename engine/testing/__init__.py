"""Test kit for plugin authors: `PluginHarness` and the pytest plugin's fixtures.

Run a plugin's entry function with a real `influxdb3_local` backed by an in-memory engine: real
SQL over fixture data given as line protocol, captured log lines, writes and cache, and a manual
clock. With pytest, the fixtures `plugin_harness`, `engine`, `manual_clock`, `plugin_dir` and
`make_plugin_harness` come from `engine.testing.pytest_plugin`, registered as the `pytest11`
entry point `processing_engine` (loaded automatically once the package is installed)::

    def test_counts_rows(plugin_harness):
        plugin_harness.write_lp("cpu,host=a usage=50 1735689600000000000")
        result = plugin_harness.run_wal("my_plugin.py", "cpu,host=a usage=91")
        assert "INFO: 1 row(s) over 90" in result.log_lines
        assert result.lines_for("test_db") == ["alerts,host=a usage=91"]

Names are imported lazily, so importing this package (as pytest does at start-up) is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..clock import ManualClock
    from ..dry_run_results import (
        PluginTestResult,
        RequestPluginTestResult,
        SchedulePluginTestResult,
    )
    from ..errors import PluginRunFailed
    from ..replay import split_lp
    from .harness import DEFAULT_DATABASE, DEFAULT_START, PluginHarness

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_START",
    "ManualClock",
    "PluginHarness",
    "PluginRunFailed",
    "PluginTestResult",
    "RequestPluginTestResult",
    "SchedulePluginTestResult",
    "split_lp",
]

_WHERE = {
    "DEFAULT_DATABASE": "engine.testing.harness",
    "DEFAULT_START": "engine.testing.harness",
    "PluginHarness": "engine.testing.harness",
    "ManualClock": "engine.clock",
    "PluginRunFailed": "engine.errors",
    "PluginTestResult": "engine.dry_run_results",
    "RequestPluginTestResult": "engine.dry_run_results",
    "SchedulePluginTestResult": "engine.dry_run_results",
    "split_lp": "engine.replay",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
