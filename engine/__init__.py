"""processing-engine: an embeddable InfluxDB 3 processing engine (public names)."""

from __future__ import annotations

__version__ = "0.1.0"

from .clock import Clock as Clock
from .clock import ManualClock as ManualClock
from .clock import SystemClock as SystemClock
from .errors import EngineError as EngineError

__all__ = [
    "Clock",
    "EngineError",
    "ManualClock",
    "SystemClock",
    "__version__",
]
