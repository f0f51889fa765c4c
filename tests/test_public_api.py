"""The public names of `engine`: every one resolves, `__all__` is sorted, imports stay lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import engine


@pytest.mark.parametrize("name", [n for n in engine.__all__ if n != "__version__"])
def test_every_public_name_resolves_to_its_defining_module(name: str) -> None:
    value = getattr(engine, name)
    assert value.__name__ == name
    assert value.__module__.startswith("engine.")


def test_all_is_sorted_and_holds_the_product_names() -> None:
    assert engine.__all__ == sorted(engine.__all__)
    assert {"Engine", "TriggerSpec", "TriggerSettings", "LineBuilder"} <= set(engine.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        engine.Nope  # noqa: B018


def test_importing_the_package_loads_neither_pyarrow_nor_datafusion() -> None:
    code = "import sys, engine; print('pyarrow' in sys.modules, 'datafusion' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
