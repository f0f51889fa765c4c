"""processing-engine: an embeddable InfluxDB 3 processing engine (public names).

Names are imported on first use, so `import engine` (and the pytest plugin that every pytest
session of an installer loads) stays cheap until something is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "CallOutcome": "runtime",
    "CatalogCorrupt": "errors",
    "Clock": "clock",
    "DatabaseAlreadyExists": "errors",
    "DatabaseNotFound": "errors",
    "Engine": "engine",
    "EngineError": "errors",
    "EngineNotStarted": "errors",
    "EngineStopped": "errors",
    "ErrorBehavior": "settings",
    "InvalidEngineOption": "errors",
    "InvalidName": "errors",
    "InvalidTriggerField": "errors",
    "LineBuilder": "linebuilder",
    "ManualClock": "clock",
    "NoPluginDirectory": "errors",
    "NodeSpecError": "errors",
    "PluginContractError": "errors",
    "PluginLoadError": "errors",
    "PluginNotFound": "errors",
    "PluginPathError": "errors",
    "QueryError": "errors",
    "Response": "responses",
    "SystemClock": "clock",
    "TriggerAlreadyExists": "errors",
    "TriggerArgumentsError": "errors",
    "TriggerBusy": "errors",
    "TriggerDefinition": "catalog",
    "TriggerKind": "spec",
    "TriggerNotFound": "errors",
    "TriggerSettings": "settings",
    "TriggerSettingsError": "errors",
    "TriggerSpec": "spec",
    "TriggerSpecError": "errors",
    "UnknownEngineOption": "errors",
    "WriteError": "errors",
    "WriteResult": "results",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .catalog import TriggerDefinition as TriggerDefinition
    from .clock import Clock as Clock
    from .clock import ManualClock as ManualClock
    from .clock import SystemClock as SystemClock
    from .engine import Engine as Engine
    from .errors import CatalogCorrupt as CatalogCorrupt
    from .errors import DatabaseAlreadyExists as DatabaseAlreadyExists
    from .errors import DatabaseNotFound as DatabaseNotFound
    from .errors import EngineError as EngineError
    from .errors import EngineNotStarted as EngineNotStarted
    from .errors import EngineStopped as EngineStopped
    from .errors import InvalidEngineOption as InvalidEngineOption
    from .errors import InvalidName as InvalidName
    from .errors import InvalidTriggerField as InvalidTriggerField
    from .errors import NodeSpecError as NodeSpecError
    from .errors import NoPluginDirectory as NoPluginDirectory
    from .errors import PluginContractError as PluginContractError
    from .errors import PluginLoadError as PluginLoadError
    from .errors import PluginNotFound as PluginNotFound
    from .errors import PluginPathError as PluginPathError
    from .errors import QueryError as QueryError
    from .errors import TriggerAlreadyExists as TriggerAlreadyExists
    from .errors import TriggerArgumentsError as TriggerArgumentsError
    from .errors import TriggerBusy as TriggerBusy
    from .errors import TriggerNotFound as TriggerNotFound
    from .errors import TriggerSettingsError as TriggerSettingsError
    from .errors import TriggerSpecError as TriggerSpecError
    from .errors import UnknownEngineOption as UnknownEngineOption
    from .errors import WriteError as WriteError
    from .linebuilder import LineBuilder as LineBuilder
    from .responses import Response as Response
    from .results import WriteResult as WriteResult
    from .runtime import CallOutcome as CallOutcome
    from .settings import ErrorBehavior as ErrorBehavior
    from .settings import TriggerSettings as TriggerSettings
    from .spec import TriggerKind as TriggerKind
    from .spec import TriggerSpec as TriggerSpec
