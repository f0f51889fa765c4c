"""Runs one benchmark module's `main(argv)` in a child process and saves its result as JSON.

`python -m benchmarks.child MODULE RESULT_FILE [ARGS...]`: the suite runs each module this way
so a crash, a leak or a lingering thread in one cannot spoil the others' figures.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` with non-finite floats as None and unknown objects as strings (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def main(argv: Sequence[str]) -> int:
    """Import `benchmarks.MODULE`, call its `main(ARGS)` and write the dict it returns."""
    if len(argv) < 2:
        print("usage: python -m benchmarks.child MODULE RESULT_FILE [ARGS...]", file=sys.stderr)
        return 2
    module, target, rest = argv[0], Path(argv[1]), list(argv[2:])
    result = importlib.import_module(f"benchmarks.{module}").main(rest)
    if not isinstance(result, dict):
        raise TypeError(f"benchmarks.{module}.main returned {type(result).__name__}, not a dict")
    target.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
