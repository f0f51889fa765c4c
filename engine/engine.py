"""`Engine`: the composition root; its lifecycle and the catalog operations of the public API."""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from . import system_tables
from .catalog import Catalog, TriggerDefinition
from .clock import Clock, SystemClock
from .definitions import TriggerDefinitions
from .dry_run import DryRunner
from .dry_run_results import PluginTestResult, RequestPluginTestResult, SchedulePluginTestResult
from .errors import EngineError, EngineNotStarted, EngineStopped, NotAScheduleTrigger, TriggerBusy
from .manifest import manifest_requirements
from .observability import Observability
from .options import EngineOptions
from .plugin_env import PluginEnvironment
from .plugin_files import resolve_plugin
from .plugin_side import PluginSide
from .plugin_store import PluginStore, trigger_plugin
from .replay import DEFAULT_BATCH_ROWS, ReplayResult, StoredReplay
from .responses import Response
from .results import WriteResult
from .runtime import CallOutcome
from .settings import TriggerSettings, node_spec_includes
from .spec import TriggerSpec
from .storage import DEFAULT_MAX_BUFFER_ROWS, Storage
from .triggers import EngineHooks

logger = logging.getLogger(__name__)

TRIGGER_SUBSCRIBER = "triggers"
FINAL_FLUSH_SECONDS = 30.0


class StopReason(enum.StrEnum):
    """Why a trigger stops running (passed to `Engine._on_trigger_stopped`)."""

    DISABLED = "disabled"
    DELETED = "deleted"
    DATABASE_DELETED = "database deleted"
    ENGINE_STOPPED = "engine stopped"


class _Phase(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class Engine:
    """An embeddable InfluxDB 3 processing engine.

    Mutating calls are allowed before `start()` and refused with `EngineStopped` after `stop()`.
    Triggers are started (see `_on_trigger_started`) only while the engine runs.
    """

    def __init__(
        self,
        plugin_dir: str | os.PathLike[str] | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        wal_flush_interval: float = 1.0,
        node_id: str = "local",
        clock: Clock | None = None,
        background: bool = True,
        watch_plugins: bool = True,
        **more_options: Any,
    ) -> None:
        """Validate the options and open the catalog; no thread starts before `start()`.

        Args:
            plugin_dir: Directory holding the plugins (must exist), or None.
            data_dir: Where catalog, WAL and data are kept; None keeps everything in memory.
            wal_flush_interval: Seconds between WAL flushes in background mode.
            node_id: This node's id, matched against triggers' `node_spec`.
            clock: Time source; defaults to the system clock.
            background: False starts no threads (tests drive flushes and time).
            watch_plugins: Reload plugins when their files change.
            **more_options: Extra options listed in `engine.options.EXTRA_OPTIONS`.

        Raises:
            UnknownEngineOption: An unknown keyword was passed.
            InvalidEngineOption: An option has a bad value.
            CatalogCorrupt: `data_dir` holds a catalog that cannot be read.
        """
        self.options = EngineOptions.build(
            plugin_dir, data_dir=data_dir, wal_flush_interval=wal_flush_interval,
            node_id=node_id, background=background, watch_plugins=watch_plugins,
            more_options=more_options,
        )
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._phase = _Phase.CREATED
        self.catalog = Catalog(self.options.data_dir)
        self._definitions = TriggerDefinitions(self.catalog, self.options.plugin_dir)
        extra = self.options.extra
        self.plugin_env = PluginEnvironment(
            self.options.plugin_dir, venv_dir=extra["virtual_env_location"],
            package_manager=extra["package_manager"], index_url=extra["package_index_url"],
            find_links=extra["package_find_links"],
            allow_unsafe=extra["allow_unsafe_package_specs"])
        self.plugin_env.activate()  # never raises: a broken environment only fails installs
        self.plugin_store = PluginStore(self.options.plugin_dir,
                                        atomic_exchange=not self.options.watch_plugins)
        self._storage = Storage(
            self.options.data_dir, self.clock, flush_interval=self.options.wal_flush_interval,
            max_buffer_rows=self.options.extra["wal_max_buffer_rows"] or DEFAULT_MAX_BUFFER_ROWS,
            memory_budget_bytes=self.options.extra["memory_budget_bytes"],
            background=self.options.background, catalog=self.catalog,
        )
        self._plugins = PluginSide(self.options, self.clock, EngineHooks(
            query=self._plugin_query, write=self._plugin_write,
            disable=self._disable_after_error,
        ))
        tables = system_tables.providers(self._system_triggers, self._plugins.observability,
                                         self.plugin_dir)
        for name, provider in tables.items():
            self._storage.queries.register_system_table(name, provider)

    @property
    def plugin_dir(self) -> Path | None:
        """The resolved plugin directory, or None."""
        return self.options.plugin_dir

    @property
    def data_dir(self) -> Path | None:
        """The data directory, or None when everything is kept in memory."""
        return self.options.data_dir

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._phase is _Phase.RUNNING

    # Lifecycle

    def start(self) -> None:
        """Start the engine and every enabled trigger; a second call does nothing.

        Raises:
            EngineStopped: The engine was already stopped (it cannot be restarted).
        """
        with self._lock:
            if self._phase is _Phase.STOPPED:
                raise EngineStopped("start")
            if self._phase is _Phase.RUNNING:
                return
            self._phase = _Phase.RUNNING
            self._on_start()
            for definition in self.catalog.list_triggers():
                if not definition.disabled:
                    self._start_trigger(definition)
            # Subscribing last: a WAL backlog replayed after a crash must find the triggers.
            self._storage.subscribe(TRIGGER_SUBSCRIBER, self._plugins.triggers.deliver)

    def stop(self) -> None:
        """Stop every trigger and the engine; later calls (and mutating calls) are refused.

        Buffered writes are flushed and handed to the WAL triggers first.
        """
        if self.running:
            self._final_flush()
        with self._lock:
            if self._phase is _Phase.STOPPED:
                return
            try:
                if self._phase is _Phase.RUNNING:
                    for definition in self.catalog.list_triggers():
                        if not definition.disabled:
                            self._stop_trigger(definition, StopReason.ENGINE_STOPPED)
                    self._on_stop()
            finally:
                self._phase = _Phase.STOPPED

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # Databases

    def create_database(self, db: str) -> None:
        """Create an empty database (InvalidName, DatabaseAlreadyExists)."""
        with self._lock:
            self._check_open("create a database")
            self.catalog.create_database(db)

    def delete_database(self, db: str) -> None:
        """Delete a database and its triggers; running triggers are stopped without waiting.

        Raises:
            DatabaseNotFound: No such database.
        """
        with self._lock:
            self._check_open("delete a database")
            for definition in self._definitions.remove_database(db):
                if not definition.disabled:
                    self._stop_trigger(definition, StopReason.DATABASE_DELETED)
            self._storage.drop_database_data(db)
            self._plugins.caches.clear_database(db)

    def list_databases(self) -> list[str]:
        """Database names, sorted."""
        return self.catalog.list_databases()

    # Triggers

    def create_trigger(
        self,
        db: str,
        trigger_name: str,
        *,
        plugin_filename: str,
        trigger_specification: str,
        trigger_arguments: Mapping[str, str] | None = None,
        trigger_settings: TriggerSettings | Mapping[str, Any] | str | None = None,
        disabled: bool = False,
        node_spec: str | Mapping[str, Any] | None = None,
    ) -> TriggerDefinition:
        """Validate and store a trigger, and start it unless `disabled`.

        The plugin must resolve inside the plugin directory and define, at its top level, the
        entry function of the trigger's kind; it is checked by reading, not importing, it.

        Returns:
            The stored definition (with the canonical specification text).

        Raises:
            InvalidName: Bad database or trigger name.
            TriggerSpecError: Bad specification.
            TriggerSettingsError, TriggerArgumentsError, NodeSpecError, InvalidTriggerField:
                Bad settings, arguments, node spec, `disabled` or `plugin_filename`.
            DatabaseNotFound: The database does not exist (create it first).
            TriggerAlreadyExists: The name is taken in `db`, or the request path anywhere.
            NoPluginDirectory, PluginPathError, PluginNotFound, PluginLoadError,
                PluginContractError: The plugin cannot back this trigger.
            EngineStopped: The engine was stopped.
        """
        definition, spec = self._definitions.build(
            db, trigger_name, plugin_filename=plugin_filename,
            trigger_specification=trigger_specification, trigger_arguments=trigger_arguments,
            trigger_settings=trigger_settings, disabled=disabled, node_spec=node_spec,
        )
        self._install_manifest_requirements(definition.plugin_filename)
        with self._lock:
            self._check_open("create a trigger")
            stored = self._definitions.add(definition, spec)
            if not stored.disabled:
                self._start_trigger(stored)
            return stored

    def delete_trigger(self, db: str, trigger_name: str, *, force: bool = False) -> None:
        """Delete a trigger; refused while a call of it is running unless `force`.

        `force` never waits: the running call is left to finish on its own.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            TriggerBusy: A call is in flight and `force` is False.
            EngineStopped: The engine was stopped.
        """
        with self._lock:
            self._check_open("delete a trigger")
            definition = self.catalog.get_trigger(db, trigger_name)
            if not force and self.in_flight(db, trigger_name):
                raise TriggerBusy(db, trigger_name)
            self._definitions.remove(db, trigger_name)
            if not definition.disabled:
                self._stop_trigger(definition, StopReason.DELETED)

    def enable_trigger(self, db: str, trigger_name: str) -> None:
        """Enable a trigger and start it; enabling an enabled trigger does nothing.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            EngineStopped: The engine was stopped.
        """
        with self._lock:
            self._check_open("enable a trigger")
            before = self.catalog.get_trigger(db, trigger_name)
            after = self.catalog.set_disabled(db, trigger_name, False)
            if before.disabled:
                self._start_trigger(after)

    def disable_trigger(self, db: str, trigger_name: str) -> None:
        """Disable a trigger and stop it without waiting for a running call; idempotent.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            EngineStopped: The engine was stopped.
        """
        self._disable(db, trigger_name, reason=None)

    def list_triggers(self, db: str | None = None) -> list[TriggerDefinition]:
        """Triggers of `db` (DatabaseNotFound if it is missing), or of every database."""
        return self.catalog.list_triggers(db)

    def get_trigger(self, db: str, trigger_name: str) -> TriggerDefinition:
        """One trigger's definition (DatabaseNotFound, TriggerNotFound)."""
        return self.catalog.get_trigger(db, trigger_name)

    def trigger_spec(self, db: str, trigger_name: str) -> TriggerSpec:
        """The parsed specification of a stored trigger (DatabaseNotFound, TriggerNotFound)."""
        return self._definitions.spec(db, trigger_name)

    # Data

    def write_lp(self, db: str, data: str | bytes, *, precision: str = "auto",
                 accept_partial: bool = True, no_sync: bool = False) -> WriteResult:
        """Write line protocol to `db`, creating the database if it does not exist.

        Args:
            db: The database.
            data: Line protocol, many lines, as `str` or UTF-8 `bytes`.
            precision: Unit of the timestamps: `auto`, `ns`, `us`, `ms` or `s`.
            accept_partial: Write the good lines when some are bad (False: all or nothing).
            no_sync: Return before the write is durable (it is visible to queries at once).

        Returns:
            `lines_written` and every refused line in `errors`.

        Raises:
            WriteError: Nothing could be written, or a line is bad and `accept_partial` is False.
            InvalidName: `db` breaks the naming rules.
        """
        self._check_open("write")
        return self._storage.write(db, data, precision=precision,
                                   accept_partial=accept_partial, no_sync=no_sync)

    def query(self, db: str, sql: str,
              params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run read-only SQL over `db`; one dict per row, time as int ns, tags as str.

        Raises:
            DatabaseNotFound: No such database.
            QueryError: The SQL failed; the message names the database, the SQL and why.
        """
        return self._storage.query(db, sql, params)

    def query_arrow(self, db: str, sql: str,
                    params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run read-only SQL over `db` and return a `pyarrow.Table`."""
        return self._storage.query_arrow(db, sql, params)

    def flush(self) -> None:
        """Persist the WAL buffer now; return once every WAL trigger has processed it."""
        self._storage.flush()

    # Plugins

    def handle_request(self, path: str, *, method: str = "GET",
                       query_params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None, body: bytes = b"") -> Response:
        """What `/api/v3/engine/{path}` does: run the request trigger serving `path`.

        Unknown paths give a 404 response, methods other than GET and POST a 405, plugin
        failures a 500 with a JSON `{"error": ...}` body; nothing here raises for them.
        """
        self._check_running("handle a request")
        return self._plugins.triggers.handle_request(
            path, method=method, query_params=query_params or {}, headers=headers or {},
            body=body)

    def submit_request(self, path: str, *, method: str = "GET",
                       query_params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None,
                       body: bytes = b"") -> Future[Response]:
        """`handle_request` without waiting: a future of the response.

        In background mode nothing here blocks, so an event loop can call it and await the
        future (`asyncio.wrap_future`); with `background=False` the plugin runs before it returns.
        """
        self._check_running("handle a request")
        return self._plugins.triggers.submit_request(
            path, method=method, query_params=query_params or {}, headers=headers or {},
            body=body)

    def request_trigger(self, path: str) -> TriggerDefinition | None:
        """The running request trigger serving `path`, or None when no trigger serves it.

        It reads no file and takes no lock, so an event loop may call it (servers check a
        caller's permission on the trigger's database with it).
        """
        owner = self._plugins.triggers.route_owner(path)
        if owner is None:
            return None
        try:
            return self.catalog.get_trigger(*owner)
        except EngineError:  # deleted since the route was read
            return None

    def start_request(self, path: str, *, then: Callable[[Response], object],
                      method: str = "GET", query_params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, body: bytes = b"") -> None:
        """`submit_request` with a callback instead of a future: `then(response)`, once.

        `then` runs on the plugin's thread (at once in this thread for a 404 or 405, before this
        returns with `background=False`, and in the disabling thread for the 503 of a call the
        trigger was disabled under), so it must be quick and thread-safe; servers use it to hand
        the response to their event loop. An exception it raises is logged and ignored.

        Raises:
            EngineNotStarted, EngineStopped: The engine is not running (`then` is not called).
        """
        self._check_running("handle a request")
        self._plugins.triggers.start_request(
            path, method=method, query_params=query_params or {}, headers=headers or {},
            body=body, then=then)

    def run_trigger(self, db: str, trigger_name: str, *,
                    call_time: datetime | None = None) -> CallOutcome:
        """Run a schedule trigger once now ("run now"), synchronously, and return the outcome.

        Args:
            db: The trigger's database.
            trigger_name: A `cron:` or `every:` trigger, enabled or not.
            call_time: The tick the plugin sees; naive is taken as UTC; default now.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            NotAScheduleTrigger: The trigger is not a schedule trigger.
        """
        self._check_running("run a trigger")
        definition = self.catalog.get_trigger(db, trigger_name)
        spec = self._definitions.spec(db, trigger_name)
        if not spec.is_schedule:
            raise NotAScheduleTrigger(str(spec))
        when = call_time or self.clock.now()
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return self._plugins.triggers.run_now(definition, when)

    def run_pending(self) -> int:
        """Flush the WAL and fire every schedule tick that is due; for `background=False` tests.

        Returns:
            How many schedule ticks fired.
        """
        self._check_running("run pending work")
        self.flush()
        return self._plugins.triggers.scheduler.run_due()

    @property
    def observability(self) -> Observability:
        """The plugin log and run history (also queryable as `system.*` tables)."""
        return self._plugins.observability

    # Dry runs

    def test_wal_plugin(self, filename: str, *, database: str, input_lp: str | bytes,
                        input_arguments: Mapping[str, str] | None = None,
                        cache_name: str | None = None) -> PluginTestResult:
        """Run a WAL plugin once over `input_lp` without a trigger (`POST /api/v3/plugin_test/wal`).

        The lines (nanosecond timestamps) are checked against `database`'s tables but never
        stored; the database need not exist. Queries see the live data; writes are captured per
        database and never applied. A plugin that fails still gives a result: its log lines are
        kept and `errors` carries the message with the traceback. Directory plugins (with
        relative imports) work.

        Args:
            filename: The plugin file or directory, relative to the plugin directory.
            database: The plugin's own database.
            input_lp: Line protocol; every line must be valid.
            input_arguments: The `args` the plugin receives.
            cache_name: The test cache namespace (default `_shared_test`); its entries persist
                between dry runs with the same name and never touch triggers' caches.

        Raises:
            NoPluginDirectory, PluginPathError, PluginNotFound: No such plugin.
            InvalidName: Bad database name.
            InvalidTestInput: `input_lp` holds no lines or a bad line.
        """
        return DryRunner.of(self._plugins, self._storage, self.clock).wal(
            filename, database=database, input_lp=input_lp, input_arguments=input_arguments,
            cache_name=cache_name)

    def test_schedule_plugin(self, filename: str, *, database: str, schedule: str | None = None,
                             input_arguments: Mapping[str, str] | None = None,
                             cache_name: str | None = None) -> SchedulePluginTestResult:
        """Run a schedule plugin once, now, for the next tick of `schedule` after now.

        `schedule` is a cron expression (6 fields with seconds first, 7, or 5), `cron:EXPR` or
        `every:DURATION`; default every second. The result's `trigger_time` is the tick.
        Queries, writes, logs, failures and `cache_name` work as in `test_wal_plugin`.

        Raises:
            NoPluginDirectory, PluginPathError, PluginNotFound: No such plugin.
            InvalidName, DatabaseNotFound: Bad or missing database.
            TriggerSpecError: Bad schedule.
        """
        return DryRunner.of(self._plugins, self._storage, self.clock).schedule(
            filename, database=database, schedule=schedule, input_arguments=input_arguments,
            cache_name=cache_name)

    def test_request_plugin(self, filename: str, *, database: str,
                            query_parameters: Mapping[str, str] | None = None,
                            request_headers: Mapping[str, str] | None = None,
                            request_body: str | bytes = b"",
                            input_arguments: Mapping[str, str] | None = None,
                            cache_name: str | None = None) -> RequestPluginTestResult:
        """Run a request plugin once on a described request, without a trigger.

        The result's `response` is what `/api/v3/engine/<path>` would answer (the
        `Authorization` header is removed first, as when live). Queries, writes, logs, failures
        and `cache_name` work as in `test_wal_plugin`.

        Raises:
            NoPluginDirectory, PluginPathError, PluginNotFound: No such plugin.
            InvalidName: Bad database name.
        """
        return DryRunner.of(self._plugins, self._storage, self.clock).request(
            filename, database=database, query_parameters=query_parameters,
            request_headers=request_headers, request_body=request_body,
            input_arguments=input_arguments, cache_name=cache_name)

    def replay(self, db: str, trigger_name: str, start: datetime | int | None,
               end: datetime | int | None, *, batch_rows: int = DEFAULT_BATCH_ROWS,
               apply_writes: bool = True) -> ReplayResult:
        """Feed the stored rows with `start <= time < end` through a WAL trigger's plugin.

        As Kapacitor's replay: rows go in time order, in batches of about `batch_rows` rows each
        shaped like one WAL flush, synchronously in this thread, with the trigger's arguments
        and cache; calls are logged and recorded under the trigger's name. Failures are
        reported in the result, never retried, and never disable the trigger.

        Args:
            db: The trigger's database.
            trigger_name: A `table:` or `all_tables` trigger, enabled or not.
            start: First time included (datetime, naive taken as UTC, or int ns); None: all.
            end: First time excluded; None: no end.
            batch_rows: Rows per call (rows sharing a timestamp stay together).
            apply_writes: False captures the plugin's writes in the result without applying.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            NotAWalTrigger: The trigger does not run on writes.
            InvalidReplayRange: Empty range or `batch_rows` below 1.
        """
        return StoredReplay.of(self._plugins, self._storage, self.clock).run(
            db, trigger_name, start, end, batch_rows=batch_rows, apply_writes=apply_writes)

    # Plugin environment and plugin files

    def install_packages(self, packages: list[str]) -> str:
        """Install PEP 508 requirements into the plugin environment; returns pip's output.

        Raises:
            InvalidPackageSpec: An entry is not a plain requirement (options, URLs, paths...).
            PackageInstallFailed: pip failed; the message is pip's.
            PackageInstallDisabled: The engine was built with `package_manager="disabled"`.
            PluginEnvironmentUnavailable: The environment cannot be created or used.
        """
        self._check_open("install packages")
        return self.plugin_env.install(packages)

    def install_requirements(self, requirements_location: str) -> str:
        """Install a requirements file found inside the plugin directory; returns pip's output."""
        self._check_open("install requirements")
        return self.plugin_env.install_requirements(requirements_location)

    def create_plugin_file(self, plugin_name: str, content: str) -> None:
        """Write a plugin file (a path inside the plugin directory) atomically."""
        self._check_open("create a plugin file")
        self.plugin_store.create_file(plugin_name, content)

    def update_plugin_file(self, plugin_name: str, content: str) -> None:
        """Overwrite the file (or package `__init__.py`) of the trigger named `plugin_name`."""
        self._check_open("update a plugin file")
        trigger = trigger_plugin(self.catalog.list_triggers(), plugin_name)
        self.plugin_store.replace_file(trigger.plugin_filename, content)

    def update_plugin_directory(self, plugin_name: str,
                                files: list[Mapping[str, str]]) -> None:
        """Replace the whole package directory of the trigger named `plugin_name` atomically."""
        self._check_open("update a plugin directory")
        trigger = trigger_plugin(self.catalog.list_triggers(), plugin_name)
        self.plugin_store.replace_directory(trigger.plugin_filename, files, trigger=plugin_name)

    def _install_manifest_requirements(self, plugin_filename: str) -> None:
        if self.plugin_dir is None:
            return
        location = resolve_plugin(self.plugin_dir, plugin_filename)
        self.plugin_env.install_missing(manifest_requirements(location.path))

    # Hooks for the runtime

    def in_flight(self, db: str, trigger_name: str) -> int:
        """How many calls of the trigger are running now (what `delete_trigger` checks)."""
        return self._plugins.triggers.in_flight(db, trigger_name)

    def _plugin_query(self, db: str, sql: str,
                      params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        return self._storage.query(db, sql, params)

    def _plugin_write(self, db: str, text: str, no_sync: bool) -> int:
        # Plugin writes are all or nothing per database, with LineBuilder's nanoseconds.
        result = self._storage.write(db, text, precision="ns", accept_partial=False,
                                     no_sync=no_sync)
        return result.lines_written

    def _disable_after_error(self, db: str, trigger_name: str, reason: str) -> None:
        """`error_behavior=disable`: persist the disabled state with its reason, and stop."""
        self._disable(db, trigger_name, reason=reason)

    def _on_start(self) -> None:
        """Start background services when the engine starts."""
        logger.debug("engine starting (node %s)", self.options.node_id)
        self._storage.start()
        self._plugins.start()

    def _final_flush(self) -> None:
        try:
            self._storage.flush(timeout=FINAL_FLUSH_SECONDS)
        except EngineError as exc:
            logger.error("final WAL flush at stop failed: %s", exc)

    def _on_stop(self) -> None:
        """Stop background services once every trigger is stopped."""
        self._plugins.stop()
        self._storage.close()
        logger.debug("engine stopped (node %s)", self.options.node_id)

    def _on_trigger_started(self, definition: TriggerDefinition) -> None:
        """Make an enabled trigger run. Called with the engine lock held."""
        logger.info("trigger %r in database %r started", definition.trigger_name, definition.db)
        self._plugins.triggers.start(definition)

    def _on_trigger_stopped(self, definition: TriggerDefinition, reason: StopReason) -> None:
        """Stop a trigger without waiting for a running call. Lock held."""
        logger.info("trigger %r in database %r stopped (%s)", definition.trigger_name,
                    definition.db, reason)
        self._plugins.triggers.stop(definition.db, definition.trigger_name)

    # Internals

    def _system_triggers(self, db: str | None) -> list[TriggerDefinition]:
        if db is not None and not self.catalog.has_database(db):
            return []
        return self.catalog.list_triggers(db)

    def _check_running(self, operation: str) -> None:
        if self._phase is not _Phase.RUNNING:
            raise EngineStopped(operation) if self._phase is _Phase.STOPPED else EngineNotStarted(
                operation)

    def _check_open(self, operation: str) -> None:
        if self._phase is _Phase.STOPPED:
            raise EngineStopped(operation)

    def _disable(self, db: str, trigger_name: str, *, reason: str | None) -> None:
        with self._lock:
            self._check_open("disable a trigger")
            before = self.catalog.get_trigger(db, trigger_name)
            after = self.catalog.set_disabled(db, trigger_name, True, reason=reason)
            if not before.disabled:
                self._stop_trigger(after, StopReason.DISABLED)

    def _start_trigger(self, definition: TriggerDefinition) -> None:
        if not self.running:
            return
        if not node_spec_includes(definition.node_spec, self.options.node_id):
            logger.info("not running trigger %r: its node_spec %r excludes node %r",
                        definition.trigger_name, definition.node_spec, self.options.node_id)
            return
        self._on_trigger_started(definition)

    def _stop_trigger(self, definition: TriggerDefinition, reason: StopReason) -> None:
        if self.running and node_spec_includes(definition.node_spec, self.options.node_id):
            self._on_trigger_stopped(definition, reason)

