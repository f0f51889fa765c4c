"""plugins_examples/: every example has a README section and its own passing pytest tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
from conftest import REPO_ROOT

from engine.manifest import read_manifest
from engine.spec import TriggerKind, TriggerSpec

EXAMPLES_DIR = REPO_ROOT / "plugins_examples"
README = EXAMPLES_DIR / "README.md"


def _examples() -> list[str]:
    """Plugin names: top-level `.py` files and directories holding `__init__.py`."""
    names = [path.name for path in EXAMPLES_DIR.glob("*.py")]
    names += [path.name for path in EXAMPLES_DIR.iterdir()
              if path.is_dir() and (path / "__init__.py").is_file()]
    return sorted(names)


def _stem(example: str) -> str:
    return example.removesuffix(".py")


def _sections() -> dict[str, str]:
    """README sections by their `## name` heading."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## +(\S+)\s*$", text, flags=re.MULTILINE)
    return {name.strip("`"): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _source(example: str) -> str:
    path = EXAMPLES_DIR / example
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return "\n".join(item.read_text(encoding="utf-8") for item in files)


@dataclass(frozen=True)
class SuiteRun:
    """One run of the examples' test suite."""

    returncode: int
    output: str
    outcomes: dict[str, list[str]]  # by test module: "passed", "failure", "error", "skipped"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """Run the examples' own test suite once, as a plugin author would."""
    report = tmp_path_factory.mktemp("examples") / "report.xml"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "engine.testing.pytest_plugin",
         f"--junitxml={report}", str(EXAMPLES_DIR)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert report.exists(), done.stdout + done.stderr
    found: dict[str, list[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        failed = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found.setdefault(module, []).append(failed[0] if failed else "passed")
    return SuiteRun(done.returncode, done.stdout[-5000:] + done.stderr[-2000:], found)


@pytest.mark.parametrize("example", _examples())
def test_every_example_has_passing_tests(suite: SuiteRun, example: str) -> None:
    module = f"test_{_stem(example)}"
    assert (EXAMPLES_DIR / "tests" / f"{module}.py").is_file(), f"{example} has no tests"
    results = suite.outcomes.get(module, [])
    assert results, f"no test of {module} ran:\n{suite.output}"
    assert set(results) == {"passed"}, suite.output


def test_the_examples_suite_passes_as_a_whole(suite: SuiteRun) -> None:
    assert suite.returncode == 0, suite.output


@pytest.mark.parametrize("example", _examples())
def test_every_example_has_a_readme_section_naming_its_trigger(example: str) -> None:
    section = _sections().get(_stem(example))
    assert section is not None, f"plugins_examples/README.md has no '## {_stem(example)}'"
    triggers = re.findall(r"^Trigger: `([^`]+)`", section, flags=re.MULTILINE)
    assert triggers, f"the section of {example} names no 'Trigger: `...`'"
    for spec in triggers:
        TriggerSpec.parse(spec)


def test_the_examples_cover_the_features_plugin_authors_need() -> None:
    examples = _examples()
    assert len(examples) >= 8
    sections = _sections()
    kinds = {TriggerSpec.parse(spec).kind for name in examples
             for spec in re.findall(r"^Trigger: `([^`]+)`", sections.get(_stem(name), ""),
                                    flags=re.MULTILINE)}
    assert kinds == set(TriggerKind)
    sources = {name: _source(name) for name in examples}
    assert any((EXAMPLES_DIR / name).is_dir() for name in examples), "a directory plugin"
    features = {
        "cache state": r"influxdb3_local\.cache\.(get|put)",
        "SQL queries": r"influxdb3_local\.query\(",
        "write-back to another database": r"write(_sync)?_to_db\(",
        "error handling": r"\braise \w+Error\(",
    }
    for feature, pattern in features.items():
        assert any(re.search(pattern, text) for text in sources.values()), feature


def test_manifests_follow_the_plugin_sdk_format() -> None:
    manifests = sorted(EXAMPLES_DIR.glob("*/manifest.toml"))
    assert manifests, "at least one example ships a manifest.toml"
    for path in manifests:
        manifest = read_manifest(path)
        assert manifest.name == path.parent.name
        assert manifest.version and manifest.triggers
        entry_points = _source(path.parent.name)
        for trigger in manifest.triggers:
            assert f"def {trigger}(" in entry_points
