"""Replay: recorded line protocol or stored rows fed through a WAL plugin in flush-sized batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .batches import TableBatch
from .cache import CacheStore
from .catalog import Catalog, TriggerDefinition
from .clock import Clock
from .dry_run import DryRunner
from .dry_run_results import PluginTestResult
from .errors import InvalidReplayRange, NoPluginDirectory, NotAWalTrigger, PluginNotLoaded
from .loader import PluginLoader
from .lp_scan import split_lines
from .observability import Observability
from .plugin_api import PluginAPI, PluginHost
from .runtime import WAL, CallInput, CallOutcome, RuntimeServices, TriggerConfig, TriggerRuntime
from .spec import TriggerSpec
from .wal import WalFlush

if TYPE_CHECKING:
    from .plugin_side import PluginSide
    from .storage import Storage

__all__ = [
    "DEFAULT_BATCH_LINES",
    "DEFAULT_BATCH_ROWS",
    "ReplayResult",
    "StoredReplay",
    "replay_lp",
    "split_lp",
]

#: Lines per batch when replaying a recorded file: a busy second of writes, one WAL flush.
DEFAULT_BATCH_LINES = 1000
#: Rows per batch when replaying stored data.
DEFAULT_BATCH_ROWS = 10_000
_MAX_NS = 2**63 - 1

_replay_numbers = itertools.count(1)
TimeBound = datetime | int | None


def split_lp(text: str | bytes, batch_lines: int = DEFAULT_BATCH_LINES) -> Iterator[str]:
    """Cut line protocol into chunks of `batch_lines` lines, in order (blank lines and comments
    are dropped; quoted or escaped newlines stay inside their line).

    Raises:
        ValueError: `batch_lines` is below 1.
    """
    if batch_lines < 1:
        raise ValueError(f"batch_lines must be at least 1, got {batch_lines}")
    data = text.decode("utf-8") if isinstance(text, bytes) else text
    chunk: list[str] = []
    for _, line in split_lines(data):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        chunk.append(line)
        if len(chunk) == batch_lines:
            yield "\n".join(chunk) + "\n"
            chunk = []
    if chunk:
        yield "\n".join(chunk) + "\n"


def replay_lp(
    runner: DryRunner,
    filename: str,
    *,
    database: str,
    lp: str | bytes,
    batch_lines: int = DEFAULT_BATCH_LINES,
    input_arguments: Mapping[str, str] | None = None,
    cache_name: str | None = None,
) -> list[PluginTestResult]:
    """Dry-run a WAL plugin over recorded line protocol, one call per batch of lines.

    Every call shares the test cache `cache_name`, so plugin state carries from batch to batch
    as it would between WAL flushes. Writes are captured per call, never applied.

    Returns:
        One result per batch, in order.
    """
    return [
        runner.wal(
            filename,
            database=database,
            input_lp=chunk,
            input_arguments=input_arguments,
            cache_name=cache_name,
        )
        for chunk in split_lp(lp, batch_lines)
    ]


@dataclass(kw_only=True)
class ReplayResult:
    """What a replay of stored rows did.

    Attributes:
        batches: Plugin calls made (one per batch).
        rows: Rows fed to the plugin.
        outcomes: Each call's outcome, in order.
        writes: Lines the plugin wrote, by database (applied unless the replay was a dry one).
    """

    batches: int = 0
    rows: int = 0
    outcomes: list[CallOutcome] = field(default_factory=list)
    writes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every call returned normally."""
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def errors(self) -> list[str]:
        """The failure message of each failed call, in order."""
        return [outcome.error or outcome.status for outcome in self.outcomes if not outcome.ok]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "batches": self.batches,
            "rows": self.rows,
            "errors": self.errors,
            "database_writes": {db: list(lines) for db, lines in self.writes.items()},
        }


@dataclass(frozen=True, kw_only=True)
class _Parts:
    catalog: Catalog
    storage: Storage
    loader: PluginLoader | None
    caches: CacheStore
    observability: Observability
    clock: Clock


class StoredReplay:
    """Feeds a time range of stored rows through a WAL trigger's plugin, as Kapacitor's replay.

    The rows of the trigger's table (or of every table, for `all_tables`) with `start <= time <
    end` go to the plugin in time order, in batches of about `batch_rows` rows (rows sharing a
    timestamp stay in one batch), each batch shaped like one WAL flush. The calls run in the
    caller's thread on a one-off runtime with the trigger's arguments and cache; they are logged
    and recorded in the run history under the trigger's name. Failures are reported, never
    retried, and never disable the trigger.
    """

    def __init__(self, parts: _Parts) -> None:
        self._parts = parts

    @classmethod
    def of(cls, plugins: PluginSide, storage: Storage, clock: Clock) -> StoredReplay:
        """A replayer over an engine's plugin side and storage (what `Engine.replay` uses)."""
        return cls(
            _Parts(
                catalog=storage.catalog,
                storage=storage,
                loader=plugins.loader,
                caches=plugins.caches,
                observability=plugins.observability,
                clock=clock,
            )
        )

    def run(
        self,
        db: str,
        trigger_name: str,
        start: TimeBound,
        end: TimeBound,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        apply_writes: bool = True,
    ) -> ReplayResult:
        """Replay `[start, end)` of `db` through the WAL trigger `trigger_name`.

        Raises:
            DatabaseNotFound, TriggerNotFound: No such trigger.
            NotAWalTrigger: The trigger does not run on writes.
            InvalidReplayRange: `end` is not after `start`, or `batch_rows` is below 1.
            NoPluginDirectory: The engine has no plugin directory.
        """
        definition = self._parts.catalog.get_trigger(db, trigger_name)
        spec = TriggerSpec.parse(definition.trigger_specification)
        if not spec.is_wal:
            raise NotAWalTrigger(trigger_name, str(spec))
        low, high = _bound(start, 0), _bound(end, _MAX_NS)
        if high <= low or batch_rows < 1:
            raise InvalidReplayRange(low, high, batch_rows)
        if self._parts.loader is None:
            raise NoPluginDirectory()
        loader = self._parts.loader
        tables = self._read(db, spec.table_name, low, high)
        key = f"{db}/{trigger_name}#replay-{next(_replay_numbers)}"
        apis: list[PluginAPI] = []
        runtime = self._runtime(definition, key, apply_writes, apis)
        result = ReplayResult()
        try:
            for batch in _batches(db, tables, batch_rows):
                call = CallInput(kind=WAL, table_batches=batch)
                outcome = runtime.execute(call)
                result.batches += 1
                result.rows += call.rows_in
                result.outcomes.append(outcome)
                _note_writes(result, outcome, apis)
        finally:
            loader.unload(key)
        return result

    def _read(self, db: str, table_name: str | None, low: int, high: int) -> dict[str, pa.Table]:
        storage = self._parts.storage
        names = storage.tables.tables(db)
        if table_name is not None:
            names = [name for name in names if name == table_name]
        sql = (
            'SELECT * FROM "{}" WHERE time >= to_timestamp_nanos($low) '
            "AND time < to_timestamp_nanos($high) ORDER BY time"
        )
        tables = {}
        for name in names:
            quoted = name.replace('"', '""')
            table = storage.query_arrow(db, sql.format(quoted), {"low": low, "high": high})
            if table.num_rows:
                tables[name] = table
        return tables

    def _runtime(
        self, definition: TriggerDefinition, key: str, apply_writes: bool, apis: list[PluginAPI]
    ) -> TriggerRuntime:
        parts = self._parts
        loader = parts.loader
        assert loader is not None  # run() refused an engine without a plugin directory
        db, trigger_name = definition.db, definition.trigger_name

        def write_now(target: str, text: str, no_sync: bool) -> None:
            if apply_writes:
                parts.storage.write(
                    target, text, precision="ns", accept_partial=False, no_sync=no_sync
                )

        def make_api() -> PluginAPI:
            host = PluginHost(
                query=parts.storage.query,
                write=write_now,
                clock=parts.clock,
                log=parts.observability.log,
                sweep_cache=parts.caches.maybe_sweep,
            )
            apis.append(
                PluginAPI(
                    host,
                    database=db,
                    trigger_name=trigger_name,
                    cache=parts.caches.for_trigger(db, trigger_name),
                )
            )
            return apis[-1]

        def apply(pending: Mapping[str, list[str]]) -> int:
            for target, lines in pending.items():
                if lines:
                    write_now(target, "\n".join(lines), False)
            return sum(len(lines) for lines in pending.values())

        def load_function(name: str) -> Callable[..., Any] | None:
            try:
                plugin = loader.get(key)
            except PluginNotLoaded:
                plugin = loader.load(key, definition.plugin_filename)
            return plugin.function(name)

        services = RuntimeServices(
            clock=parts.clock,
            observability=parts.observability,
            load_function=load_function,
            make_api=make_api,
            apply_writes=apply,
            disable=_keep_enabled,
            pool=None,
        )
        config = TriggerConfig(
            database=db, name=trigger_name, kind=WAL, arguments=definition.trigger_arguments
        )
        return TriggerRuntime(config, services)


def _note_writes(result: ReplayResult, outcome: CallOutcome, apis: list[PluginAPI]) -> None:
    if not apis:
        return
    api = apis.pop()
    if not outcome.ok:
        api.discard_writes()  # queued writes of a failed call are never applied
    for db, lines in api.result().database_writes.items():
        result.writes.setdefault(db, []).extend(lines)


def _keep_enabled(reason: str) -> None:
    """A replay never disables the trigger it replays through."""


def _bound(value: TimeBound, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"a replay bound must be a datetime, int nanoseconds or None, got {value!r}"
        )
    return value


def _times(table: pa.Table) -> pa.Array:
    column = table.column("time")
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return column.combine_chunks()


def _cut_points(tables: Mapping[str, pa.Table], batch_rows: int) -> list[int]:
    """Times where batches start: a batch ends after `batch_rows` rows, at a new timestamp."""
    if not tables:
        return []
    times = pa.concat_arrays([_times(table) for table in tables.values()])
    cuts: list[int] = []
    count = 0
    previous = None
    for time in times.take(pc.array_sort_indices(times)).to_pylist():
        if not cuts or (count >= batch_rows and time != previous):
            cuts.append(time)
            count = 0
        count += 1
        previous = time
    return cuts


def _batches(
    db: str, tables: Mapping[str, pa.Table], batch_rows: int
) -> Iterator[list[TableBatch]]:
    cuts = _cut_points(tables, batch_rows)
    for index, low in enumerate(cuts):
        high = cuts[index + 1] if index + 1 < len(cuts) else None
        chunk: dict[str, pa.Table] = {}
        for name, table in tables.items():
            times = _times(table)
            mask = pc.greater_equal(times, low)
            if high is not None:
                mask = pc.and_(mask, pc.less(times, high))
            part = table.filter(mask)
            if part.num_rows:
                chunk[name] = part
        flush = WalFlush(index + 1, {db: chunk})
        yield [
            TableBatch(name, part, lambda name=name, f=flush: f.rows(db, name))  # type: ignore[misc]
            for name, part in chunk.items()
        ]
