"""Dry runs: one plugin call without a trigger, real queries, writes captured and never applied."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .batches import TableBatch
from .cache import CacheStore, PluginCache
from .clock import Clock
from .dry_run_io import (
    DEFAULT_TEST_SCHEDULE,
    SchemaLookup,
    input_batches,
    parse_test_schedule,
    plugin_traceback,
    write_errors,
)
from .dry_run_results import (
    PluginTestResult,
    RequestPluginTestResult,
    SchedulePluginTestResult,
)
from .errors import (
    DatabaseNotFound,
    NoPluginDirectory,
    TriggerArgumentsError,
    TriggerSpecError,
)
from .loader import PluginLoader
from .names import validate_database_name
from .observability import Observability
from .plugin_api import PluginAPI, PluginHost, format_log_line
from .plugin_files import resolve_plugin
from .responses import Response, error_response, to_response
from .runtime import (
    REQUEST,
    SCHEDULE,
    WAL,
    CallInput,
    CallOutcome,
    RuntimeServices,
    TriggerConfig,
    TriggerRuntime,
)

if TYPE_CHECKING:
    from .plugin_side import PluginSide
    from .storage import Storage

__all__ = [
    "DEFAULT_TEST_CACHE",
    "DEFAULT_TEST_SCHEDULE",
    "DRY_RUN_TRIGGER",
    "DryRunServices",
    "DryRunner",
    "input_batches",
    "parse_test_schedule",
    "plugin_traceback",
    "write_errors",
]

#: The test cache namespace used when a dry run names none (as on the reference server).
DEFAULT_TEST_CACHE = "_shared_test"
#: The trigger name a dry run's log records carry.
DRY_RUN_TRIGGER = "dry-run"

QueryCallback = Callable[[str, str, dict[str, Any] | None], list[dict[str, Any]]]

_run_numbers = itertools.count(1)


@dataclass(frozen=True, kw_only=True)
class DryRunServices:
    """What dry runs need from an engine, as parts and callbacks.

    Attributes:
        loader: Loads the plugin (each run under its own key); None when there is no plugin
            directory.
        caches: Where the test cache namespaces live.
        clock: The time source (schedule ticks, log times, rows without a timestamp).
        query: `(db, sql, params) -> rows` over the live data.
        has_database: Whether a database exists (schedule dry runs need theirs).
        schema_of: `(db, table) -> schema or None`, to check input and written lines against
            the live tables; None checks line protocol syntax only.
    """

    loader: PluginLoader | None
    caches: CacheStore
    clock: Clock
    query: QueryCallback
    has_database: Callable[[str], bool]
    schema_of: SchemaLookup | None = None


@dataclass(frozen=True)
class _Call:
    """One dry run's plugin, database, arguments, cache namespace and input."""

    filename: str
    database: str
    arguments: dict[str, str] | None
    cache_name: str
    call: CallInput


class DryRunner:
    """Runs plugins once, as `POST /api/v3/plugin_test/*` does."""

    def __init__(self, services: DryRunServices) -> None:
        self._services = services

    @classmethod
    def of(cls, plugins: PluginSide, storage: Storage, clock: Clock) -> DryRunner:
        """A runner over an engine's plugin side and storage (what `Engine` uses)."""
        return cls(
            DryRunServices(
                loader=plugins.loader,
                caches=plugins.caches,
                clock=clock,
                query=storage.query,
                has_database=storage.catalog.has_database,
                schema_of=storage.tables.schema,
            )
        )

    def wal(
        self,
        filename: str,
        *,
        database: str,
        input_lp: str | bytes,
        input_arguments: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> PluginTestResult:
        """Run `process_writes` once over the rows of `input_lp` (see `Engine.test_wal_plugin`)."""
        self._check(filename, database)
        batches = input_batches(database, input_lp, self._services.clock, self._services.schema_of)
        return self.wal_batches(
            filename,
            database=database,
            table_batches=batches,
            input_arguments=input_arguments,
            cache_name=cache_name,
        )

    def wal_batches(
        self,
        filename: str,
        *,
        database: str,
        table_batches: list[TableBatch],
        input_arguments: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> PluginTestResult:
        """Run `process_writes` once over ready-made table batches."""
        self._check(filename, database)
        call = CallInput(kind=WAL, table_batches=table_batches)
        result = PluginTestResult()
        self._run(
            _Call(
                filename,
                database,
                _arguments(input_arguments),
                cache_name or DEFAULT_TEST_CACHE,
                call,
            ),
            result,
        )
        return result

    def schedule(
        self,
        filename: str,
        *,
        database: str,
        schedule: str | None = None,
        input_arguments: Mapping[str, str] | None = None,
        cache_name: str | None = None,
        call_time: datetime | None = None,
    ) -> SchedulePluginTestResult:
        """Run `process_scheduled_call` once, for the next tick of `schedule` after now.

        Args:
            filename: The plugin, relative to the plugin directory.
            database: The plugin's database; it must exist.
            schedule: A cron expression, `cron:EXPR` or `every:DURATION`; default every second.
            input_arguments: The `args` the plugin receives.
            cache_name: The test cache namespace.
            call_time: Run for this tick instead (naive is taken as UTC).
        """
        self._check(filename, database)
        if not self._services.has_database(database):
            raise DatabaseNotFound(database)
        tick = call_time if call_time is not None else self._next_tick(schedule)
        tick = tick.replace(tzinfo=UTC) if tick.tzinfo is None else tick.astimezone(UTC)
        result = SchedulePluginTestResult(trigger_time=tick)
        call = CallInput(kind=SCHEDULE, scheduled_time=tick)
        self._run(
            _Call(
                filename,
                database,
                _arguments(input_arguments),
                cache_name or DEFAULT_TEST_CACHE,
                call,
            ),
            result,
        )
        return result

    def request(
        self,
        filename: str,
        *,
        database: str,
        query_parameters: Mapping[str, str] | None = None,
        request_headers: Mapping[str, str] | None = None,
        request_body: str | bytes = b"",
        input_arguments: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> RequestPluginTestResult:
        """Run `process_request` once on a described request (see `Engine.test_request_plugin`)."""
        self._check(filename, database)
        body = request_body.encode() if isinstance(request_body, str) else bytes(request_body)
        headers = {
            str(k).lower(): str(v)
            for k, v in (request_headers or {}).items()
            if str(k).lower() != "authorization"
        }
        call = CallInput(
            kind=REQUEST, query_parameters=dict(query_parameters or {}), headers=headers, body=body
        )
        result = RequestPluginTestResult()
        outcome = self._run(
            _Call(
                filename,
                database,
                _arguments(input_arguments),
                cache_name or DEFAULT_TEST_CACHE,
                call,
            ),
            result,
        )
        result.response = _response(outcome, result)
        return result

    # --- internals ---------------------------------------------------------------------------

    def _check(self, filename: str, database: str) -> None:
        loader = self._services.loader
        if loader is None:
            raise NoPluginDirectory()
        validate_database_name(database)
        resolve_plugin(loader.plugin_dir, filename)

    def _next_tick(self, schedule: str | None) -> datetime:
        spec = parse_test_schedule(schedule)
        tick = spec.next_after(self._services.clock.now())
        if tick is None:
            raise TriggerSpecError(str(spec), "the schedule never fires again")
        return tick

    def _run(self, run: _Call, result: PluginTestResult) -> CallOutcome:
        """Execute the call on a one-off runtime and fill `result` in."""
        services = self._services
        loader = services.loader
        assert loader is not None  # _check refused a runner without one
        key = f"dry-run/{next(_run_numbers)}"
        observability = Observability(forward=False)  # a dry run's log stays in its result
        apis: list[PluginAPI] = []
        cache = services.caches.namespace(run.cache_name)
        runtime = self._runtime(run, key, observability, apis, cache)
        try:
            outcome = runtime.execute(run.call)
        finally:
            loader.unload(key)
        _fill(result, outcome, apis[-1] if apis else None, observability)
        result.errors.extend(write_errors(result.database_writes, services.schema_of))
        result.cache = services.caches.snapshot(cache)
        result.global_cache = services.caches.snapshot(cache, use_global=True)
        return outcome

    def _runtime(
        self,
        run: _Call,
        key: str,
        observability: Observability,
        apis: list[PluginAPI],
        cache: PluginCache,
    ) -> TriggerRuntime:
        """A runtime for one call: the plugin loaded under `key`, writes captured only."""
        services = self._services
        loader = services.loader
        assert loader is not None
        host = PluginHost(
            query=services.query,
            write=_capture_only,
            clock=services.clock,
            log=observability.log,
            sweep_cache=services.caches.maybe_sweep,
        )

        def make_api() -> PluginAPI:
            apis.append(
                PluginAPI(host, database=run.database, trigger_name=DRY_RUN_TRIGGER, cache=cache)
            )
            return apis[-1]

        def load_function(name: str) -> Callable[..., Any] | None:
            return loader.load(key, run.filename).function(name)

        config = TriggerConfig(
            database=run.database, name=DRY_RUN_TRIGGER, kind=run.call.kind, arguments=run.arguments
        )
        return TriggerRuntime(
            config,
            RuntimeServices(
                clock=services.clock,
                observability=observability,
                load_function=load_function,
                make_api=make_api,
                apply_writes=_count_lines,
                disable=_never_disabled,
                pool=None,
            ),
        )


def _fill(
    result: PluginTestResult,
    outcome: CallOutcome,
    api: PluginAPI | None,
    observability: Observability,
) -> None:
    result.log_lines = [format_log_line(e.level, e.message) for e in observability.logs()]
    if api is not None:
        if not outcome.ok:
            api.discard_writes()  # the engine applies queued writes only after a normal return
        result.database_writes = api.result().database_writes
    if outcome.ok:
        result.value = outcome.value
        return
    result.error = outcome.error or outcome.status
    result.traceback = plugin_traceback(outcome.traceback) if outcome.traceback else None
    message = f"error executing plugin: {result.error}"
    result.errors.append(f"{message}\n{result.traceback}" if result.traceback else message)


def _response(outcome: CallOutcome, result: PluginTestResult) -> Response:
    if not outcome.ok:
        return error_response(500, f"Python function call failed: {outcome.error}")
    try:
        return to_response(outcome.value)
    except Exception as exc:  # an unusable return value is the plugin's error, as when live
        result.errors.append(f"invalid response from plugin: {exc}")
        return error_response(500, str(exc))


def _arguments(arguments: Mapping[str, str] | None) -> dict[str, str] | None:
    if arguments is None:
        return None
    if not isinstance(arguments, Mapping):
        raise TriggerArgumentsError(f"input_arguments must be a mapping, got {arguments!r}")
    for key, value in arguments.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TriggerArgumentsError(
                f"input_arguments must map strings to strings, got {key!r}: {value!r}"
            )
    return dict(arguments)


def _capture_only(db: str, text: str, no_sync: bool) -> None:
    """`write_sync` in a dry run: captured by the API object, never applied."""


def _count_lines(pending: Mapping[str, list[str]]) -> int:
    return sum(len(lines) for lines in pending.values())


def _never_disabled(reason: str) -> None:
    """A dry run has no trigger to disable."""
