"""processing-engine: an embeddable InfluxDB 3 processing engine (public names)."""

from __future__ import annotations

__version__ = "0.1.0"

from .catalog import TriggerDefinition as TriggerDefinition
from .clock import Clock as Clock
from .clock import ManualClock as ManualClock
from .clock import SystemClock as SystemClock
from .engine import Engine as Engine
from .errors import CatalogCorrupt as CatalogCorrupt
from .errors import DatabaseAlreadyExists as DatabaseAlreadyExists
from .errors import DatabaseNotFound as DatabaseNotFound
from .errors import EngineError as EngineError
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
from .settings import ErrorBehavior as ErrorBehavior
from .settings import TriggerSettings as TriggerSettings
from .spec import TriggerKind as TriggerKind
from .spec import TriggerSpec as TriggerSpec

__all__ = [
    "CatalogCorrupt",
    "Clock",
    "DatabaseAlreadyExists",
    "DatabaseNotFound",
    "Engine",
    "EngineError",
    "EngineStopped",
    "ErrorBehavior",
    "InvalidEngineOption",
    "InvalidName",
    "InvalidTriggerField",
    "ManualClock",
    "NoPluginDirectory",
    "NodeSpecError",
    "PluginContractError",
    "PluginLoadError",
    "PluginNotFound",
    "PluginPathError",
    "QueryError",
    "SystemClock",
    "TriggerAlreadyExists",
    "TriggerArgumentsError",
    "TriggerBusy",
    "TriggerDefinition",
    "TriggerKind",
    "TriggerNotFound",
    "TriggerSettings",
    "TriggerSettingsError",
    "TriggerSpec",
    "TriggerSpecError",
    "UnknownEngineOption",
    "WriteError",
    "__version__",
]
