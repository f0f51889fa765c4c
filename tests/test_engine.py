"""Engine lifecycle and the catalog operations of the public API."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ManualClock, SystemClock, TriggerDefinition, TriggerSettings
from engine.catalog import CATALOG_FILE_NAME
from engine.engine import StopReason
from engine.errors import (
    CatalogCorrupt,
    DatabaseAlreadyExists,
    DatabaseNotFound,
    EngineError,
    EngineStopped,
    InvalidName,
    InvalidTriggerField,
    NodeSpecError,
    NoPluginDirectory,
    PluginContractError,
    PluginLoadError,
    PluginNotFound,
    PluginPathError,
    TriggerAlreadyExists,
    TriggerArgumentsError,
    TriggerNotFound,
    TriggerSettingsError,
    TriggerSpecError,
)
from engine.settings import ErrorBehavior

WAL = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
SCHEDULE = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n"
REQUEST = ("def process_request(influxdb3_local, query_parameters, request_headers, "
           "request_body, args=None):\n    return {}\n")


@pytest.fixture
def plugins(plugin_dir: Path, tmp_path: Path) -> Path:
    (plugin_dir / "wal.py").write_text(WAL)
    (plugin_dir / "schedule.py").write_text(SCHEDULE)
    (plugin_dir / "request.py").write_text(REQUEST)
    (plugin_dir / "broken.py").write_text("def process_writes(:\n")
    package = plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .impl import process_writes\n")
    (package / "impl.py").write_text(WAL)
    (plugin_dir / "no_init").mkdir()
    outside = tmp_path / "outside.py"
    outside.write_text(WAL)
    (plugin_dir / "escape.py").symlink_to(outside)
    return plugin_dir


class RecordingEngine(Engine):
    """An Engine whose start/stop hooks record what they were told."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: list[tuple[str, str, str]] = []
        super().__init__(*args, **kwargs)

    def _on_trigger_started(self, definition: TriggerDefinition) -> None:
        self.events.append(("started", definition.db, definition.trigger_name))

    def _on_trigger_stopped(self, definition: TriggerDefinition, reason: StopReason) -> None:
        self.events.append((f"stopped: {reason}", definition.db, definition.trigger_name))


@pytest.fixture
def engine(plugins: Path) -> Engine:
    engine = Engine(plugins, background=False)
    engine.create_database("db1")
    return engine


def _create(engine: Engine, name: str = "t1", db: str = "db1", **fields: Any) -> TriggerDefinition:
    values: dict[str, Any] = {"plugin_filename": "wal.py",
                              "trigger_specification": "all_tables", **fields}
    return engine.create_trigger(db, name, **values)


# Triggers


@pytest.mark.parametrize(
    ("plugin", "spec", "canonical"),
    [
        ("wal.py", "table:cpu", "table:cpu"),
        ("wal.py", "all_tables", "all_tables"),
        ("pkg", "all_tables", "all_tables"),
        ("pkg/", "table:mem", "table:mem"),
        ("schedule.py", "every:90s", "every:1m30s"),
        ("schedule.py", "cron:0 * * * * *", "cron:0 * * * * *"),
        ("request.py", "request:hooks/in", "request:hooks/in"),
    ],
    ids=["table", "all-tables", "package", "package-slash", "every", "cron", "request"],
)
def test_create_trigger_stores_every_field(
    engine: Engine, plugin: str, spec: str, canonical: str,
) -> None:
    stored = engine.create_trigger(
        "db1", "t1", plugin_filename=plugin, trigger_specification=spec,
        trigger_arguments={"k": "v"}, trigger_settings={"run_async": True}, node_spec="all",
    )
    assert stored.trigger_specification == canonical
    assert stored.plugin_filename == plugin
    assert stored.trigger_arguments == {"k": "v"}
    assert stored.trigger_settings == TriggerSettings(run_async=True)
    assert (stored.disabled, stored.disabled_reason, stored.node_spec) == (False, None, "all")
    assert engine.list_triggers("db1") == [stored]
    assert engine.get_trigger("db1", "t1") == stored
    assert str(engine.trigger_spec("db1", "t1")) == canonical


def test_trigger_settings_may_be_an_object_a_dict_or_json(engine: Engine) -> None:
    forms: list[Any] = [TriggerSettings(error_behavior=ErrorBehavior.RETRY),
                        {"error_behavior": "RETRY"}, '{"error_behavior": "retry"}']
    for number, form in enumerate(forms):
        stored = _create(engine, f"t{number}", trigger_settings=form)
        assert stored.trigger_settings.error_behavior is ErrorBehavior.RETRY


@pytest.mark.parametrize(
    ("fields", "error", "fragment"),
    [
        ({"db": "bad db"}, InvalidName, "invalid database name 'bad db'"),
        ({"db": "_internal"}, InvalidName, "reserved"),
        ({"db": ""}, InvalidName, "it is empty"),
        ({"db": "x" * 512}, InvalidName, "512 characters long"),
        ({"name": ""}, InvalidName, "invalid trigger name ''"),
        ({"name": "a/b"}, InvalidName, "character number 2"),
        ({"name": "x" * 256}, InvalidName, "256 characters long"),
        ({"db": "nope"}, DatabaseNotFound, "database not found: 'nope'"),
        ({"trigger_specification": "sometimes"}, TriggerSpecError, "expected one of"),
        ({"trigger_specification": "every:0s"}, TriggerSpecError, "every:0s"),
        ({"plugin_filename": "../x.py"}, PluginPathError, "'..' component"),
        ({"plugin_filename": "pkg/../../x.py"}, PluginPathError, "'..' component"),
        ({"plugin_filename": "/etc/passwd"}, PluginPathError, "absolute path"),
        ({"plugin_filename": "escape.py"}, PluginPathError, "leads outside"),
        ({"plugin_filename": "missing.py"}, PluginNotFound, "no such file or directory"),
        ({"plugin_filename": "no_init"}, PluginNotFound, "must contain __init__.py"),
        ({"plugin_filename": 3}, InvalidTriggerField, "invalid plugin_filename 3"),
        ({"plugin_filename": "broken.py"}, PluginLoadError, "syntax error"),
        ({"plugin_filename": "schedule.py"}, PluginContractError,
         r"must define `process_writes\(influxdb3_local, table_batches, args=None\)`"),
        ({"plugin_filename": "wal.py", "trigger_specification": "every:10s"},
         PluginContractError, r"process_scheduled_call\(influxdb3_local, call_time, args=None\)"),
        ({"plugin_filename": "wal.py", "trigger_specification": "request:x"},
         PluginContractError, r"process_request\(influxdb3_local, query_parameters, "
                              r"request_headers, request_body, args=None\)"),
        ({"trigger_settings": {"error_behavior": "explode"}}, TriggerSettingsError,
         "error_behavior must be one of log, retry, disable"),
        ({"trigger_settings": {"colour": "red"}}, TriggerSettingsError, "accepted keys"),
        ({"trigger_arguments": {"n": 1}}, TriggerArgumentsError, "the value of 'n' is 1"),
        ({"node_spec": "somewhere"}, NodeSpecError, "invalid node_spec 'somewhere'"),
        ({"disabled": "no"}, InvalidTriggerField, "invalid disabled 'no'"),
    ],
    ids=["db-space", "db-internal", "db-empty", "db-too-long", "name-empty", "name-slash",
         "name-too-long", "unknown-database", "bad-spec", "zero-every", "traversal",
         "nested-traversal", "absolute", "symlink-out", "missing-file", "dir-without-init",
         "filename-not-str", "syntax-error", "missing-entry-wal", "missing-entry-schedule",
         "missing-entry-request", "bad-error-behavior", "unknown-setting", "bad-arguments",
         "bad-node-spec", "disabled-not-bool"],
)
def test_create_trigger_refusals_change_nothing(
    engine: Engine, fields: dict[str, Any], error: type[EngineError], fragment: str,
) -> None:
    db = fields.pop("db", "db1")
    name = fields.pop("name", "t1")
    with pytest.raises(error, match=fragment):
        _create(engine, name, db=db, **fields)
    assert engine.list_triggers() == []
    assert engine.list_databases() == ["db1"]


def test_create_trigger_without_a_plugin_directory() -> None:
    engine = Engine(background=False)
    engine.create_database("db1")
    with pytest.raises(NoPluginDirectory):
        _create(engine)


def test_duplicate_trigger_names_are_refused_per_database(engine: Engine) -> None:
    _create(engine)
    with pytest.raises(TriggerAlreadyExists, match="a trigger named 't1' already exists"):
        _create(engine, plugin_filename="schedule.py", trigger_specification="every:1m")
    engine.create_database("db2")
    assert _create(engine, db="db2").db == "db2"


def test_duplicate_request_paths_are_refused_across_databases(engine: Engine) -> None:
    engine.create_database("db2")
    _create(engine, "first", plugin_filename="request.py", trigger_specification="request:hook")
    with pytest.raises(TriggerAlreadyExists,
                       match="request path 'hook' is already served by trigger 'db1/first'"):
        _create(engine, "second", db="db2", plugin_filename="request.py",
                trigger_specification="request:hook")
    _create(engine, "other", db="db2", plugin_filename="request.py",
            trigger_specification="request:hook/sub")
    engine.delete_trigger("db1", "first")
    _create(engine, "second", db="db2", plugin_filename="request.py",
            trigger_specification="request:hook")


def test_concurrent_creates_of_one_request_path_let_exactly_one_win(engine: Engine) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def create(number: int) -> None:
        barrier.wait()
        try:
            _create(engine, f"t{number}", plugin_filename="request.py",
                    trigger_specification="request:shared")
            outcomes.append("created")
        except TriggerAlreadyExists:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 7
    assert len(engine.list_triggers()) == 1


def test_enable_and_disable_are_idempotent(engine: Engine) -> None:
    _create(engine)
    for _ in range(2):
        engine.disable_trigger("db1", "t1")
        assert engine.get_trigger("db1", "t1").disabled
    for _ in range(2):
        engine.enable_trigger("db1", "t1")
        assert not engine.get_trigger("db1", "t1").disabled


@pytest.mark.parametrize(
    ("operation", "error"),
    [("enable_trigger", TriggerNotFound), ("disable_trigger", TriggerNotFound),
     ("delete_trigger", TriggerNotFound), ("get_trigger", TriggerNotFound)],
    ids=["enable", "disable", "delete", "get"],
)
def test_unknown_triggers_and_databases(
    engine: Engine, operation: str, error: type[EngineError],
) -> None:
    with pytest.raises(error, match="no trigger named 'ghost' in database 'db1'"):
        getattr(engine, operation)("db1", "ghost")
    with pytest.raises(DatabaseNotFound, match="'nodb'"):
        getattr(engine, operation)("nodb", "ghost")


# Databases


def test_databases_are_created_listed_and_deleted_with_their_triggers(engine: Engine) -> None:
    engine.create_database("db2")
    _create(engine, "a")
    _create(engine, "b", db="db2")
    assert engine.list_databases() == ["db1", "db2"]
    with pytest.raises(DatabaseAlreadyExists):
        engine.create_database("db2")
    engine.delete_database("db1")
    assert engine.list_databases() == ["db2"]
    assert [t.trigger_name for t in engine.list_triggers()] == ["b"]
    with pytest.raises(DatabaseNotFound):
        engine.list_triggers("db1")
    with pytest.raises(DatabaseNotFound):
        engine.delete_database("db1")


# Lifecycle and hooks


def test_hooks_follow_the_lifecycle(plugins: Path) -> None:
    engine = RecordingEngine(plugins, background=False)
    engine.create_database("db1")
    engine.create_database("db2")
    _create(engine, "early")
    _create(engine, "off", disabled=True)
    assert engine.events == []
    engine.start()
    _create(engine, "late")
    engine.disable_trigger("db1", "late")
    engine.disable_trigger("db1", "late")
    engine.enable_trigger("db1", "late")
    engine.enable_trigger("db1", "late")
    engine.enable_trigger("db1", "off")
    engine.delete_trigger("db1", "off")
    _create(engine, "gone", db="db2")
    engine.delete_database("db2")
    engine.stop()
    assert engine.events == [
        ("started", "db1", "early"),
        ("started", "db1", "late"),
        ("stopped: disabled", "db1", "late"),
        ("started", "db1", "late"),
        ("started", "db1", "off"),
        ("stopped: deleted", "db1", "off"),
        ("started", "db2", "gone"),
        ("stopped: database deleted", "db2", "gone"),
        ("stopped: engine stopped", "db1", "early"),
        ("stopped: engine stopped", "db1", "late"),
    ]


def test_triggers_for_other_nodes_are_not_started(plugins: Path) -> None:
    engine = RecordingEngine(plugins, background=False, node_id="n1")
    engine.create_database("db1")
    with engine:
        _create(engine, "here", node_spec="nodes:n1,n2")
        _create(engine, "elsewhere", node_spec={"nodes": ["n2"]})
        engine.disable_trigger("db1", "elsewhere")
    assert engine.events == [("started", "db1", "here"), ("stopped: engine stopped", "db1", "here")]


def test_start_and_stop_are_idempotent_and_stop_is_final(engine: Engine) -> None:
    assert not engine.running
    engine.start()
    engine.start()
    assert engine.running
    engine.stop()
    engine.stop()
    assert not engine.running
    with pytest.raises(EngineStopped, match="cannot start: the engine is stopped"):
        engine.start()


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.create_database("db2"),
        lambda e: e.delete_database("db1"),
        lambda e: _create(e),
        lambda e: e.enable_trigger("db1", "t0"),
        lambda e: e.disable_trigger("db1", "t0"),
        lambda e: e.delete_trigger("db1", "t0"),
    ],
    ids=["create-database", "delete-database", "create-trigger", "enable", "disable", "delete"],
)
def test_mutating_calls_after_stop_raise_engine_stopped(engine: Engine, call: Any) -> None:
    _create(engine, "t0")
    engine.stop()
    with pytest.raises(EngineStopped):
        call(engine)
    assert [t.trigger_name for t in engine.list_triggers()] == ["t0"]
    assert engine.list_databases() == ["db1"]


def test_the_context_manager_starts_and_stops_even_on_error(plugins: Path) -> None:
    engine = Engine(plugins, background=False)
    with pytest.raises(RuntimeError, match="inside"), engine as entered:
        assert entered is engine
        assert engine.running
        raise RuntimeError("inside")
    assert not engine.running
    with pytest.raises(EngineStopped):
        engine.create_database("db1")


def test_clock_defaults_to_the_system_clock(plugins: Path) -> None:
    assert isinstance(Engine(plugins).clock, SystemClock)
    clock = ManualClock()
    assert Engine(plugins, clock=clock).clock is clock


# Durability


def test_triggers_and_their_state_survive_a_restart(plugins: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Engine(plugins, data_dir=data, background=False) as engine:
        engine.create_database("db1")
        engine.create_database("empty")
        first = _create(engine, "a", trigger_arguments={"k": "v"},
                        trigger_settings={"error_behavior": "disable"})
        _create(engine, "b", plugin_filename="request.py", trigger_specification="request:p")
        engine.disable_trigger("db1", "b")
        engine._disable_after_error("db1", "a", "plugin raised ValueError: boom")
    engine = RecordingEngine(plugins, data_dir=data, background=False)
    assert engine.list_databases() == ["db1", "empty"]
    restored = engine.get_trigger("db1", "a")
    assert restored.trigger_arguments == first.trigger_arguments
    assert restored.trigger_settings.error_behavior is ErrorBehavior.DISABLE
    assert (restored.disabled, restored.disabled_reason) == (True,
                                                             "plugin raised ValueError: boom")
    with pytest.raises(TriggerAlreadyExists, match="request path 'p'"):
        _create(engine, "c", plugin_filename="request.py", trigger_specification="request:p")
    engine.enable_trigger("db1", "a")
    with engine:
        pass
    assert engine.events == [("started", "db1", "a"), ("stopped: engine stopped", "db1", "a")]


def test_an_unreadable_catalog_stops_the_engine_from_starting(
    plugins: Path, tmp_path: Path,
) -> None:
    (tmp_path / CATALOG_FILE_NAME).write_text("{ not json")
    with pytest.raises(CatalogCorrupt, match="refusing to start"):
        Engine(plugins, data_dir=tmp_path)
    assert (tmp_path / CATALOG_FILE_NAME).read_text() == "{ not json"


def test_a_stored_specification_that_no_longer_parses_is_corruption(
    plugins: Path, tmp_path: Path,
) -> None:
    with Engine(plugins, data_dir=tmp_path, background=False) as engine:
        engine.create_database("db1")
        _create(engine)
    path = tmp_path / CATALOG_FILE_NAME
    document = json.loads(path.read_text())
    document["databases"]["db1"]["triggers"][0]["trigger_specification"] = "whenever"
    path.write_text(json.dumps(document))
    with pytest.raises(CatalogCorrupt, match=r"trigger 't1' in database 'db1'.*'whenever'"):
        Engine(plugins, data_dir=tmp_path)
