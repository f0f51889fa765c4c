"""Trigger definitions over the catalog: building, adding, and request-path ownership."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.definitions import TriggerDefinitions
from engine.errors import DatabaseNotFound, PluginNotFound, TriggerAlreadyExists

REQUEST = "def process_request(a, b, c, d, args=None):\n    return {}\n"


@pytest.fixture
def definitions(plugin_dir: Path) -> TriggerDefinitions:
    (plugin_dir / "req.py").write_text(REQUEST)
    catalog = Catalog()
    catalog.create_database("db1")
    catalog.create_database("db2")
    return TriggerDefinitions(catalog, plugin_dir)


def _add(definitions: TriggerDefinitions, db: str, name: str, path: str) -> None:
    definition, spec = definitions.build(
        db, name, plugin_filename="req.py", trigger_specification=f"request:{path}",
        trigger_arguments=None, trigger_settings=None, disabled=False, node_spec=None)
    definitions.add(definition, spec)


def test_build_touches_nothing_stored(definitions: TriggerDefinitions) -> None:
    definition, spec = definitions.build(
        "db1", "t1", plugin_filename="missing.py", trigger_specification="every:60s",
        trigger_arguments={"a": "b"}, trigger_settings=None, disabled=True, node_spec=None)
    assert (definition.trigger_specification, str(spec)) == ("every:1m", "every:1m")
    assert definitions.catalog.list_triggers() == []
    with pytest.raises(PluginNotFound):
        definitions.add(definition, spec)
    assert definitions.catalog.list_triggers() == []


def test_request_path_owners_follow_adds_and_removals(definitions: TriggerDefinitions) -> None:
    _add(definitions, "db1", "a", "x")
    _add(definitions, "db2", "b", "y")
    assert definitions.request_path_owner("x") == ("db1", "a")
    assert definitions.request_path_owner("y") == ("db2", "b")
    assert definitions.request_path_owner("z") is None
    with pytest.raises(TriggerAlreadyExists, match="'db2/b'"):
        _add(definitions, "db1", "c", "y")
    definitions.remove_database("db2")
    assert definitions.request_path_owner("y") is None
    definitions.remove("db1", "a")
    assert definitions.request_path_owner("x") is None
    with pytest.raises(DatabaseNotFound):
        definitions.spec("db2", "b")


def test_specs_are_parsed_again_when_reopened(plugin_dir: Path, tmp_path: Path) -> None:
    (plugin_dir / "req.py").write_text(REQUEST)
    catalog = Catalog(tmp_path)
    catalog.create_database("db1")
    _add(TriggerDefinitions(catalog, plugin_dir), "db1", "a", "hook")
    reopened = TriggerDefinitions(Catalog(tmp_path), plugin_dir)
    assert reopened.spec("db1", "a").path == "hook"
    assert reopened.request_path_owner("hook") == ("db1", "a")
