"""The catalog: databases, triggers and tokens, in memory and durable on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import CATALOG_FILE_NAME, Catalog, TriggerDefinition
from engine.errors import (
    CatalogCorrupt,
    DatabaseAlreadyExists,
    DatabaseNotFound,
    InvalidName,
    TriggerAlreadyExists,
    TriggerNotFound,
)
from engine.settings import ErrorBehavior, TriggerSettings


def _trigger(name: str = "t1", db: str = "db1", **fields: Any) -> TriggerDefinition:
    values: dict[str, Any] = {
        "plugin_filename": "plugin.py", "trigger_specification": "every:10s", **fields,
    }
    return TriggerDefinition(db=db, trigger_name=name, **values)


@pytest.fixture(params=["memory", "disk"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Catalog:
    return Catalog(None if request.param == "memory" else tmp_path / "data")


def test_databases_are_created_listed_sorted_and_deleted(catalog: Catalog) -> None:
    for db in ("zeta", "alpha", "mid"):
        catalog.create_database(db)
    assert catalog.list_databases() == ["alpha", "mid", "zeta"]
    catalog.delete_database("mid")
    assert catalog.list_databases() == ["alpha", "zeta"]
    assert not catalog.has_database("mid")


def test_database_refusals(catalog: Catalog) -> None:
    catalog.create_database("db1")
    with pytest.raises(DatabaseAlreadyExists, match="'db1'"):
        catalog.create_database("db1")
    with pytest.raises(DatabaseNotFound, match="'nope'"):
        catalog.delete_database("nope")
    with pytest.raises(InvalidName, match="reserved"):
        catalog.create_database("_internal")


def test_ensure_database_creates_once(catalog: Catalog) -> None:
    assert catalog.ensure_database("db1") is True
    assert catalog.ensure_database("db1") is False
    assert catalog.list_databases() == ["db1"]


def test_triggers_get_increasing_ids_that_are_never_reused(catalog: Catalog) -> None:
    catalog.create_database("db1")
    first = catalog.add_trigger(_trigger("a"))
    second = catalog.add_trigger(_trigger("b"))
    catalog.remove_trigger("db1", "b")
    third = catalog.add_trigger(_trigger("c"))
    assert (first.trigger_id, second.trigger_id, third.trigger_id) == (1, 2, 3)
    assert [t.trigger_name for t in catalog.list_triggers("db1")] == ["a", "c"]


def test_trigger_refusals(catalog: Catalog) -> None:
    with pytest.raises(DatabaseNotFound):
        catalog.add_trigger(_trigger())
    catalog.create_database("db1")
    catalog.add_trigger(_trigger())
    with pytest.raises(TriggerAlreadyExists, match="a trigger named 't1' already exists"):
        catalog.add_trigger(_trigger())
    with pytest.raises(TriggerNotFound, match="no trigger named 'x' in database 'db1'"):
        catalog.get_trigger("db1", "x")
    with pytest.raises(TriggerNotFound):
        catalog.remove_trigger("db1", "x")
    with pytest.raises(DatabaseNotFound):
        catalog.list_triggers("other")


def test_same_trigger_name_in_two_databases_is_allowed(catalog: Catalog) -> None:
    catalog.create_database("db1")
    catalog.create_database("db2")
    catalog.add_trigger(_trigger("t", db="db1"))
    catalog.add_trigger(_trigger("t", db="db2"))
    assert [(t.db, t.trigger_name) for t in catalog.list_triggers()] == [("db1", "t"),
                                                                         ("db2", "t")]


def test_set_disabled_keeps_a_reason_only_while_disabled(catalog: Catalog) -> None:
    catalog.create_database("db1")
    catalog.add_trigger(_trigger())
    disabled = catalog.set_disabled("db1", "t1", True, reason="plugin raised ValueError")
    assert (disabled.disabled, disabled.disabled_reason) == (True, "plugin raised ValueError")
    enabled = catalog.set_disabled("db1", "t1", False, reason="ignored")
    assert (enabled.disabled, enabled.disabled_reason) == (False, None)
    assert catalog.set_disabled("db1", "t1", False) == enabled


def test_deleting_a_database_deletes_its_triggers(catalog: Catalog) -> None:
    catalog.create_database("db1")
    catalog.create_database("db2")
    catalog.add_trigger(_trigger("a"))
    catalog.add_trigger(_trigger("b"))
    catalog.add_trigger(_trigger("c", db="db2"))
    removed = catalog.delete_database("db1")
    assert [t.trigger_name for t in removed] == ["a", "b"]
    assert [t.trigger_name for t in catalog.list_triggers()] == ["c"]
    catalog.create_database("db1")
    assert catalog.list_triggers("db1") == []


def test_definitions_cannot_be_changed_behind_the_catalogs_back(catalog: Catalog) -> None:
    catalog.create_database("db1")
    arguments = {"k": "v"}
    stored = catalog.add_trigger(_trigger(trigger_arguments=arguments))
    arguments["k"] = "changed"
    assert catalog.get_trigger("db1", "t1").trigger_arguments == {"k": "v"}
    with pytest.raises(TypeError):
        stored.trigger_arguments["k"] = "x"  # type: ignore[index]


def test_every_field_survives_a_restart(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.create_database("db1")
    catalog.create_database("empty")
    stored = catalog.add_trigger(_trigger(
        trigger_arguments={"k": "v"},
        trigger_settings=TriggerSettings(run_async=True, error_behavior=ErrorBehavior.RETRY,
                                         timezone="Europe/Paris", timeout=2.5),
        node_spec={"nodes": ["n1", "n2"]},
        plugin_filename="pkg/",
        trigger_specification="request:hooks/in",
    ))
    catalog.add_trigger(_trigger("t2", trigger_arguments={}, node_spec="nodes:a"))
    catalog.set_disabled("db1", "t2", True, reason="boom")
    catalog.set_tokens([{"id": "1", "name": "admin", "hash": "ab" * 32, "permissions": ["*"]}])

    reopened = Catalog(tmp_path)
    assert reopened.list_databases() == ["db1", "empty"]
    assert reopened.list_triggers() == catalog.list_triggers()
    assert reopened.get_trigger("db1", "t1") == stored
    assert reopened.get_trigger("db1", "t2").trigger_arguments == {}
    assert reopened.get_trigger("db1", "t2").disabled_reason == "boom"
    assert reopened.tokens() == catalog.tokens()
    assert reopened.add_trigger(_trigger("t3")).trigger_id == 3


def test_the_file_is_versioned_json_with_room_for_tokens(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.create_database("db1")
    document = json.loads((tmp_path / CATALOG_FILE_NAME).read_text())
    assert document == {"version": 1, "next_trigger_id": 1,
                        "databases": {"db1": {"triggers": []}}, "tokens": []}


def test_in_memory_catalog_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = Catalog()
    catalog.create_database("db1")
    assert catalog.path is None
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_changes_neither_disk_nor_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = Catalog(tmp_path)
    catalog.create_database("db1")
    before = (tmp_path / CATALOG_FILE_NAME).read_bytes()

    def crash(*args: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        catalog.create_database("db2")
    monkeypatch.undo()

    assert catalog.list_databases() == ["db1"]
    assert (tmp_path / CATALOG_FILE_NAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [CATALOG_FILE_NAME]
    assert Catalog(tmp_path).list_databases() == ["db1"]


CRASHING_SAVE = textwrap.dedent("""
    import os, sys
    from engine.catalog import Catalog
    catalog = Catalog(sys.argv[1])
    def die(*args):
        os._exit(9)  # the process dies after the temporary file is written, before the rename
    os.replace = die
    catalog.create_database("db2")
""")


def test_a_crash_between_write_and_rename_leaves_the_old_catalog(tmp_path: Path) -> None:
    Catalog(tmp_path).create_database("db1")
    result = subprocess.run([sys.executable, "-c", CRASHING_SAVE, str(tmp_path)], timeout=60)
    assert result.returncode == 9
    strays = [p for p in tmp_path.iterdir() if p.name != CATALOG_FILE_NAME]
    assert len(strays) == 1
    assert json.loads(strays[0].read_text())["databases"].keys() == {"db1", "db2"}

    reopened = Catalog(tmp_path)
    assert reopened.list_databases() == ["db1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [CATALOG_FILE_NAME]


def test_a_stray_garbage_temporary_file_is_ignored(tmp_path: Path) -> None:
    Catalog(tmp_path).create_database("db1")
    (tmp_path / f"{CATALOG_FILE_NAME}.x1y2.tmp").write_bytes(b'{"version": 1, "datab')
    assert Catalog(tmp_path).list_databases() == ["db1"]


def _valid_document() -> dict[str, Any]:
    return {
        "version": 1, "next_trigger_id": 2, "tokens": [],
        "databases": {"db1": {"triggers": [_trigger().to_dict() | {"trigger_id": 1}]}},
    }


def _with(path: str, value: Any) -> bytes:
    document = _valid_document()
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(document).encode()


_DELETE = object()
TRIGGER = "databases.db1.triggers.0"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not valid UTF-8 JSON"),
        (b'{"version": 1, "databa', "not valid UTF-8 JSON"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8 JSON"),
        (b"[]", "the top level must be a JSON object"),
        (_with("version", 2), "format version 2; this engine reads version 1"),
        (_with("databases", _DELETE), "missing field 'databases'"),
        (_with("databases", []), "field 'databases' must be dict"),
        (_with("tokens", [1]), "every token record must be a JSON object"),
        (_with("next_trigger_id", 1), "next_trigger_id 1 is not above the ids in use"),
        (_with("databases.bad db", {"triggers": []}), "invalid database name 'bad db'"),
        (_with(f"{TRIGGER}.trigger_settings", {"error_behavior": "explode"}), "error_behavior"),
        (_with(f"{TRIGGER}.trigger_arguments", {"k": 1}), "invalid trigger_arguments"),
        (_with(f"{TRIGGER}.disabled", "no"), "field 'disabled' must be bool"),
        (_with(f"{TRIGGER}.plugin_filename", _DELETE), "missing field 'plugin_filename'"),
        (_with(f"{TRIGGER}.db", "db2"), "filed under database 'db1' but names database 'db2'"),
    ],
    ids=["empty-file", "truncated", "binary", "array", "future-version", "no-databases",
         "databases-list", "token-not-object", "stale-next-id", "bad-db-name", "bad-settings",
         "bad-arguments", "disabled-str", "no-plugin", "wrong-db"],
)
def test_an_unreadable_catalog_stops_start_up_and_is_kept(
    tmp_path: Path, content: bytes, fragment: str,
) -> None:
    path = tmp_path / CATALOG_FILE_NAME
    path.write_bytes(content)
    with pytest.raises(CatalogCorrupt, match=fragment) as caught:
        Catalog(tmp_path)
    assert str(path) in str(caught.value)
    assert "refusing to start" in str(caught.value)
    assert path.read_bytes() == content


def test_the_valid_document_used_above_loads(tmp_path: Path) -> None:
    (tmp_path / CATALOG_FILE_NAME).write_bytes(json.dumps(_valid_document()).encode())
    assert [t.trigger_name for t in Catalog(tmp_path).list_triggers()] == ["t1"]


def test_a_missing_data_dir_is_created(tmp_path: Path) -> None:
    Catalog(tmp_path / "a" / "b").create_database("db1")
    assert (tmp_path / "a" / "b" / CATALOG_FILE_NAME).is_file()


def test_token_records_are_copies(catalog: Catalog) -> None:
    catalog.set_tokens([{"id": "1", "permissions": ["admin"]}])
    records = catalog.tokens()
    records[0]["permissions"].append("more")
    assert catalog.tokens() == [{"id": "1", "permissions": ["admin"]}]
    with pytest.raises(TypeError):
        catalog.set_tokens([{"id": object()}])
