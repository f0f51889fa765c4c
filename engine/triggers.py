"""Running triggers: start and stop them, and route WAL flushes, ticks and requests to them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .cache import CacheStore
from .catalog import TriggerDefinition
from .clock import Clock
from .errors import PluginNotLoaded, WriteBackFailed
from .loader import LoadedPlugin, PluginLoader
from .observability import Observability
from .plugin_api import PluginAPI, PluginHost
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
from .scheduler import Scheduler
from .spec import TriggerSpec
from .wal import WalFlush
from .wal_delivery import DEFAULT_DELIVERY_TIMEOUT, WalDelivery, WalTarget
from .workers import WorkerPool

logger = logging.getLogger(__name__)

REQUEST_METHODS = ("GET", "POST")


@dataclass(frozen=True, kw_only=True)
class EngineHooks:
    """What the trigger manager needs from the engine: data access and catalog changes."""

    query: Callable[[str, str, dict[str, Any] | None], list[dict[str, Any]]]
    write: Callable[[str, str, bool], int]
    disable: Callable[[str, str, str], None]


@dataclass(kw_only=True)
class _Running:
    definition: TriggerDefinition
    spec: TriggerSpec
    runtime: TriggerRuntime
    wal: WalTarget | None = None


class TriggerManager:
    """Every running trigger of one engine."""

    def __init__(
        self,
        *,
        clock: Clock,
        loader: PluginLoader | None,
        caches: CacheStore,
        observability: Observability,
        hooks: EngineHooks,
        pool: WorkerPool | None,
        delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
    ) -> None:
        self._clock = clock
        self._loader = loader
        self._caches = caches
        self._obs = observability
        self._hooks = hooks
        self._pool = pool
        self._delivery = WalDelivery(delivery_timeout)
        # One host for every plugin call: its callbacks never change.
        self._host = PluginHost(
            query=hooks.query,
            write=self._write_now,
            clock=clock,
            log=observability.log,
            sweep_cache=caches.maybe_sweep,
        )
        self._running: dict[tuple[str, str], _Running] = {}
        self._routes: dict[str, tuple[str, str]] = {}
        self._reload_errors: dict[str, str] = {}
        self._lock = threading.RLock()
        self.scheduler = Scheduler(clock, self._fire_tick)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, definition: TriggerDefinition) -> None:
        """Start a trigger; plugin load errors are logged and reported by each later call."""
        key = (definition.db, definition.trigger_name)
        spec = TriggerSpec.parse(definition.trigger_specification)
        runtime = self._make_runtime(definition, spec)
        with self._lock:
            self.stop(*key)
            self._running[key] = _Running(
                definition=definition, spec=spec, runtime=runtime, wal=_wal_target(spec, runtime)
            )
            if spec.is_request and spec.path is not None:
                self._routes[spec.path] = key
        self._preload(definition, runtime)
        if spec.is_schedule:
            self._schedule(definition, spec)

    def stop(self, db: str, trigger_name: str) -> bool:
        """Stop a trigger at once (a running call finishes unheard); False if it was not running."""
        key = (db, trigger_name)
        with self._lock:
            running = self._running.pop(key, None)
            if running is None:
                return False
            for path, owner in list(self._routes.items()):
                if owner == key:
                    del self._routes[path]
        self.scheduler.remove(_key_text(db, trigger_name))
        with self._lock:
            self._reload_errors.pop(_key_text(db, trigger_name), None)
        running.runtime.stop()
        self._caches.clear_trigger(db, trigger_name)
        if self._loader is not None:
            self._loader.unload(_key_text(db, trigger_name))
        return True

    def stop_all(self) -> None:
        """Stop every trigger."""
        with self._lock:
            keys = list(self._running)
        for key in keys:
            self.stop(*key)

    def is_running(self, db: str, trigger_name: str) -> bool:
        """True when the trigger is started."""
        return (db, trigger_name) in self._running

    def in_flight(self, db: str, trigger_name: str) -> int:
        """Plugin calls of the trigger running right now."""
        running = self._running.get((db, trigger_name))
        return running.runtime.in_flight if running else 0

    # --- inputs ------------------------------------------------------------------------------

    def deliver(self, flush: WalFlush) -> None:
        """Hand one WAL flush to every WAL trigger of its databases and wait for them.

        The wait for each trigger is bounded (its `timeout` setting, else `delivery_timeout`);
        see `WalDelivery` for triggers that fall behind.
        """
        targets = [running.wal for running in self._snapshot() if running.wal is not None]
        self._delivery.deliver(flush, targets)

    def handle_request(
        self,
        path: str,
        *,
        method: str,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | bytearray | memoryview | str,
    ) -> Response:
        """Run the request trigger serving `path` and turn its return value into a response."""
        return self.submit_request(path, method=method, query_params=query_params,
                                   headers=headers, body=body).result()

    def submit_request(
        self,
        path: str,
        *,
        method: str,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | bytearray | memoryview | str,
    ) -> Future[Response]:
        """Start the request trigger serving `path`; the future gives the HTTP response."""
        future: Future[Response] = Future()
        self.start_request(path, method=method, query_params=query_params, headers=headers,
                           body=body, then=future.set_result)
        return future

    def start_request(
        self,
        path: str,
        *,
        method: str,
        query_params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | bytearray | memoryview | str,
        then: Callable[[Response], object],
    ) -> None:
        """Start the request trigger serving `path`; `then(response)` is called once, when done.

        Nothing here blocks (in background mode), so an event loop may call it: `then` runs on
        the plugin's thread, or at once in this thread when no plugin is needed (404, 405).
        """
        running = self._route(path)
        if running is None:
            then(error_response(404, f"no request trigger serves the path {path!r}"))
            return
        if method.upper() not in REQUEST_METHODS:
            then(error_response(405, f"method {method} not allowed; use GET or POST"))
            return
        clean = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
        call = CallInput(kind=REQUEST, query_parameters=dict(query_params), headers=clean,
                         body=_bytes(body), keep_log=False)
        runtime = running.runtime
        runtime.submit_to(call, _RequestCall(runtime, then))

    def run_now(self, definition: TriggerDefinition, call_time: datetime) -> CallOutcome:
        """Run a schedule trigger once for `call_time`, waiting for the outcome.

        A running trigger takes the call in its queue (so it never overlaps its own ticks); a
        stopped one runs it on a one-off runtime in this thread.
        """
        call = CallInput(kind=SCHEDULE, scheduled_time=call_time)
        running = self._running.get((definition.db, definition.trigger_name))
        if running is not None:
            return running.runtime.submit(call).result()
        spec = TriggerSpec.parse(definition.trigger_specification)
        runtime = self._make_runtime(definition, spec, pool=None)
        try:
            return runtime.execute(call)
        finally:
            if self._loader is not None:
                self._loader.unload(_one_off_key(definition))

    def route_owner(self, path: str) -> tuple[str, str] | None:
        """The (database, trigger) serving a request path, if any."""
        return self._routes.get(path)

    # --- helpers -----------------------------------------------------------------------------

    def _snapshot(self) -> list[_Running]:
        with self._lock:
            return list(self._running.values())

    def _route(self, path: str) -> _Running | None:
        with self._lock:
            key = self._routes.get(path)
            return self._running.get(key) if key else None

    def _fire_tick(self, key: str, tick: datetime) -> Future[CallOutcome] | None:
        db, _, name = key.partition("/")
        running = self._running.get((db, name))
        if running is None:
            return None
        return running.runtime.submit(CallInput(kind=SCHEDULE, scheduled_time=tick))

    def _schedule(self, definition: TriggerDefinition, spec: TriggerSpec) -> None:
        settings = definition.trigger_settings
        tz = ZoneInfo(settings.timezone) if settings.timezone else None
        self.scheduler.add(
            _key_text(definition.db, definition.trigger_name),
            spec,
            tz=tz,
            catch_up=str(settings.catch_up),
            wait_for_run=not settings.run_async,
            after=self._clock.now(),
        )

    def _preload(self, definition: TriggerDefinition, runtime: TriggerRuntime) -> None:
        if self._loader is None:
            return
        try:
            self._loader.load(
                _key_text(definition.db, definition.trigger_name), definition.plugin_filename
            )
        except Exception as exc:
            runtime.log("ERROR", f"failed to load plugin {definition.plugin_filename}: {exc}")

    def _make_runtime(
        self,
        definition: TriggerDefinition,
        spec: TriggerSpec,
        *,
        pool: WorkerPool | str | None = "shared",
    ) -> TriggerRuntime:
        settings = definition.trigger_settings
        config = TriggerConfig(
            database=definition.db,
            name=definition.trigger_name,
            kind=_kind(spec),
            arguments=definition.trigger_arguments,
            run_async=settings.run_async,
            error_behavior=str(settings.error_behavior),
            max_retries=settings.max_retries,
            retry_backoff=settings.retry_backoff,
            timeout=settings.timeout,
        )
        holder: list[TriggerRuntime] = []
        services = RuntimeServices(
            clock=self._clock,
            observability=self._obs,
            load_function=lambda name: self._load_function(definition, name, holder[0]),
            make_api=self._api_factory(definition, holder),
            apply_writes=self._apply_writes,
            disable=lambda reason: self._hooks.disable(
                definition.db, definition.trigger_name, reason
            ),
            pool=self._pool if pool == "shared" else None,
        )
        holder.append(TriggerRuntime(config, services))
        return holder[0]

    def _load_function(
        self, definition: TriggerDefinition, name: str, runtime: TriggerRuntime
    ) -> Any:
        if self._loader is None:
            raise PluginNotLoaded(definition.plugin_filename)
        key = _key_text(definition.db, definition.trigger_name)
        if not self.is_running(definition.db, definition.trigger_name):
            key = _one_off_key(definition)
        try:
            plugin = self._loader.get(key)
        except PluginNotLoaded:
            plugin = self._loader.load(key, definition.plugin_filename)
        self._report_reload_error(key, plugin, runtime)
        return plugin.function(name)

    def _report_reload_error(self, key: str, plugin: LoadedPlugin, runtime: TriggerRuntime) -> None:
        """Tell the trigger's log, once per broken version, that its new code failed to load."""
        error = plugin.last_error
        if error is None and not self._reload_errors:  # the usual case, without the lock
            return
        with self._lock:
            if self._reload_errors.get(key) == error:
                return
            if error is None:
                del self._reload_errors[key]
                return
            self._reload_errors[key] = error
        runtime.log(
            "ERROR",
            f"plugin {plugin.filename} failed to reload; version {plugin.version} keeps running",
            error,
        )

    def _api_factory(
        self, definition: TriggerDefinition, holder: list[TriggerRuntime]
    ) -> Callable[[], PluginAPI]:
        """Builds each call's `influxdb3_local`; what all calls share is made once, here."""
        host, db, name = self._host, definition.db, definition.trigger_name
        cache = self._caches.for_trigger(db, name)

        def cancelled() -> bool:
            return holder[0].stopped

        def make() -> PluginAPI:
            return PluginAPI(host, database=db, trigger_name=name, cache=cache,
                             cancelled=cancelled)

        return make

    def _write_now(self, db: str, text: str, no_sync: bool) -> None:
        self._hooks.write(db, text, no_sync)

    def _apply_writes(self, pending: Mapping[str, list[str]]) -> int:
        """Write each database's batched lines as one write; one refused database spoils no other.

        Raises:
            WriteBackFailed: Some databases refused their lines (the others were written).
        """
        written = 0
        failures: dict[str, str] = {}
        for db, lines in pending.items():
            if not lines:
                continue
            try:
                written += self._hooks.write(db, "\n".join(lines), False)
            except Exception as exc:  # reported together below, after every database was tried
                failures[db] = str(exc)
        if failures:
            raise WriteBackFailed(failures)
        return written


def _wal_target(spec: TriggerSpec, runtime: TriggerRuntime) -> WalTarget | None:
    if not spec.is_wal:
        return None
    config = runtime.config
    return WalTarget(
        database=config.database,
        table_name=spec.table_name,
        runtime=runtime,
        timeout=config.timeout,
    )


def _bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    """The body as plugins receive it: `bytes`, whatever buffer or text the host passed."""
    if isinstance(body, str):
        return body.encode("utf-8")
    return body if type(body) is bytes else bytes(body)


class _RequestCall:
    """Where a request call's outcome goes: made into the HTTP response, handed to `then` once.

    The conversion (JSON encoding included) happens on the plugin's thread. Requests are the
    engine's hottest path, and this costs a fraction of a future plus a callback between two.
    """

    __slots__ = ("_once", "_runtime", "_then")

    def __init__(self, runtime: TriggerRuntime, then: Callable[[Response], object]) -> None:
        self._runtime = runtime
        self._then = then
        self._once = threading.Lock()

    def set_result(self, outcome: CallOutcome, /) -> None:
        """Answer the request from the call's outcome (later outcomes are ignored)."""
        if not self._once.acquire(blocking=False):
            return
        try:
            response = _to_http(outcome, self._runtime)
        except Exception as exc:  # the caller must always get an answer
            response = error_response(500, f"internal error: {exc}")
        try:
            self._then(response)
        except Exception:  # the host's callback failing must not stop the trigger's queue
            logger.exception("trigger %s: the callback given the response of a request raised",
                             self._runtime.config.name)

    def done(self) -> bool:
        """Whether the request was answered."""
        return self._once.locked()


def _key_text(db: str, trigger_name: str) -> str:
    return f"{db}/{trigger_name}"


def _one_off_key(definition: TriggerDefinition) -> str:
    return f"{definition.db}/{definition.trigger_name}#run-now"


def _kind(spec: TriggerSpec) -> str:
    if spec.is_wal:
        return WAL
    return SCHEDULE if spec.is_schedule else REQUEST


def _to_http(outcome: CallOutcome, runtime: TriggerRuntime) -> Response:
    if outcome.status == "cancelled":
        return error_response(503, "the request trigger was stopped while handling the request")
    if not outcome.ok:
        return error_response(500, f"Python function call failed: {outcome.error}")
    try:
        return to_response(outcome.value)
    except Exception as exc:  # an unsupported return value is the plugin's error, not ours
        runtime.log("ERROR", f"error running request plugin: {exc}")
        return error_response(500, str(exc))


def utc_now_whole(clock: Clock) -> datetime:
    """The clock's time in UTC, truncated to whole seconds."""
    return clock.now().astimezone(UTC).replace(microsecond=0)
