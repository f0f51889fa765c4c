"""manifest.toml: the plugin SDK's format, read leniently where the engine does not care."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ManifestError
from engine.manifest import (
    PluginManifest,
    find_manifest,
    manifest_requirements,
    plugin_manifest,
    read_manifest,
)

FULL = """\
manifest_schema_version = "1.0"
experimental_feature = true

[plugin]
name = "downsampler"
version = "1.2.0"
description = "Notify an HTTP endpoint on every WAL commit."
triggers = ["process_writes", "process_scheduled_call"]
homepage = "https://influxdata.com"

[dependencies]
database_version = ">=3.2.0,<4.0.0"
python = ["requests>=2.31,<3", "pydantic~=2.0", 'tzdata; sys_platform == "win32"']

[[dependencies.plugins]]
name = "notifier"
version = ">=1,<2"
index_url = "https://example.com/index.json"
"""

# As the influxdata plugins ship it: a description longer than the SDK's 200 characters.
REAL_WORLD = """\
manifest_schema_version = "1.2"

[plugin]
name = "kafka_subscriber"
version = "0.4.0"
description = "%s"
triggers = ["process_scheduled_call"]
exclude = [".venv/", "__pycache__/", "*.py", "!kafka_subscriber.py"]

[dependencies]
database_version = ">=3.8.2"
python = ["confluent-kafka>=2.15.0", "jsonpath-ng", "httpx"]
""" % ("Ingests Kafka messages. " * 12)

MINIMAL = """\
manifest_schema_version = "1.0"

[plugin]
name = "minimal"
version = "0.1.0"
description = "The smallest well-formed plugin."
triggers = ["process_writes"]

[dependencies]
database_version = ">=3.0.0"
"""


def package_with(root: Path, manifest: str | bytes) -> Path:
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def process_writes(i, b, args=None):\n    pass\n")
    target = package / "manifest.toml"
    if isinstance(manifest, bytes):
        target.write_bytes(manifest)
    else:
        target.write_text(manifest)
    return package


def test_a_full_manifest_is_read(plugin_dir: Path) -> None:
    package = package_with(plugin_dir, FULL)

    assert plugin_manifest(package) == PluginManifest(
        path=package / "manifest.toml", schema_version="1.0", name="downsampler",
        version="1.2.0", triggers=("process_writes", "process_scheduled_call"),
        python_requirements=("requests>=2.31,<3", "pydantic~=2.0",
                             'tzdata; sys_platform == "win32"'),
        database_version=">=3.2.0,<4.0.0",
    )


@pytest.mark.parametrize(("text", "expected"), [
    (FULL, ["requests>=2.31,<3", "pydantic~=2.0", 'tzdata; sys_platform == "win32"']),
    (REAL_WORLD, ["confluent-kafka>=2.15.0", "jsonpath-ng", "httpx"]),
    (MINIMAL, []),
    ('manifest_schema_version = "1.7"\n', []),
], ids=["full", "influxdata-style", "minimal-no-python", "schema-only-later-minor"])
def test_the_declared_python_requirements_are_listed(
        plugin_dir: Path, text: str, expected: list[str]) -> None:
    assert manifest_requirements(package_with(plugin_dir, text)) == expected


def test_a_single_file_plugin_in_an_sdk_folder_uses_the_folders_manifest(
        plugin_dir: Path) -> None:
    folder = plugin_dir / "kafka_subscriber"
    folder.mkdir()
    (folder / "kafka_subscriber.py").write_text("def process_scheduled_call(*a):\n    pass\n")
    (folder / "manifest.toml").write_text(REAL_WORLD)

    assert find_manifest(folder / "kafka_subscriber.py") == folder / "manifest.toml"
    assert manifest_requirements(folder / "kafka_subscriber.py")[0] == "confluent-kafka>=2.15.0"


def test_a_plugin_without_a_manifest_has_no_requirements(plugin_dir: Path) -> None:
    (plugin_dir / "lonely").mkdir()
    (plugin_dir / "lonely" / "__init__.py").write_text("")
    (plugin_dir / "solo.py").write_text("")

    assert plugin_manifest(plugin_dir / "lonely") is None
    assert manifest_requirements(plugin_dir / "lonely") == []
    assert manifest_requirements(plugin_dir / "solo.py") == []


INVALID = [
    ("not-toml", 'manifest_schema_version = "1.0"\n[plugin\n', "not valid TOML"),
    ("no-schema-version", '[plugin]\nname = "x"\n', "manifest_schema_version is missing"),
    ("schema-version-number", "manifest_schema_version = 1.0\n", "must be a string"),
    ("schema-version-one-part", 'manifest_schema_version = "1"\n', "is not <major>.<minor>"),
    ("schema-version-three-parts", 'manifest_schema_version = "1.0.0"\n',
     "is not <major>.<minor>"),
    ("schema-version-letters", 'manifest_schema_version = "a.b"\n', "is not <major>.<minor>"),
    ("unsupported-major", 'manifest_schema_version = "2.0"\n', "major version 2"),
    ("plugin-not-table", 'manifest_schema_version = "1.0"\nplugin = "x"\n',
     r"\[plugin\] must be a table"),
    ("name-not-string", 'manifest_schema_version = "1.0"\n[plugin]\nname = 3\n',
     "plugin.name must be a string"),
    ("triggers-not-list", 'manifest_schema_version = "1.0"\n[plugin]\ntriggers = "x"\n',
     "plugin.triggers must be a list"),
    ("python-not-list", 'manifest_schema_version = "1.0"\n[dependencies]\npython = "requests"\n',
     "dependencies.python must be a list"),
    ("python-entry-not-string",
     'manifest_schema_version = "1.0"\n[dependencies]\npython = [["requests"]]\n',
     "dependencies.python must be a list of strings"),
    ("bad-pep508", 'manifest_schema_version = "1.0"\n[dependencies]\npython = ["requests>>=2.0"]\n',
     "'requests>>=2.0' is not PEP 508"),
    ("database-version-not-string",
     'manifest_schema_version = "1.0"\n[dependencies]\ndatabase_version = 3\n',
     "dependencies.database_version must be a string"),
]


@pytest.mark.parametrize(("text", "reason"), [(t, r) for _, t, r in INVALID],
                         ids=[i for i, _, _ in INVALID])
def test_an_invalid_manifest_is_refused_with_what_is_wrong(
        plugin_dir: Path, text: str, reason: str) -> None:
    package = package_with(plugin_dir, text)

    with pytest.raises(ManifestError, match=reason) as caught:
        manifest_requirements(package)

    assert isinstance(caught.value, ValueError)
    assert str(package / "manifest.toml") in str(caught.value)


def test_a_manifest_that_is_not_utf8_is_refused(plugin_dir: Path) -> None:
    package = package_with(plugin_dir, b'manifest_schema_version = "1.0"\n# caf\xe9\n')

    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(package / "manifest.toml")


def test_a_missing_manifest_file_cannot_be_read(plugin_dir: Path) -> None:
    with pytest.raises(ManifestError, match="cannot be read"):
        read_manifest(plugin_dir / "manifest.toml")
