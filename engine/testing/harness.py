"""`PluginHarness`: run a plugin's entry function with a real `influxdb3_local` over an engine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..cache import CacheStore, PluginCache
from ..clock import Clock, ManualClock
from ..dry_run import DryRunner, DryRunServices
from ..dry_run_results import PluginTestResult, RequestPluginTestResult, SchedulePluginTestResult
from ..engine import Engine
from ..errors import PluginRunFailed, WriteError
from ..linebuilder import PLUGIN_BUILTINS
from ..loader import PluginLoader
from ..replay import DEFAULT_BATCH_LINES, split_lp
from ..results import WriteResult

__all__ = ["DEFAULT_DATABASE", "DEFAULT_START", "HARNESS_CACHE", "PluginHarness"]

#: The database plugins run against unless told otherwise.
DEFAULT_DATABASE = "test_db"
#: Where a harness's manual clock starts.
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
#: The test cache namespace every run of one harness shares.
HARNESS_CACHE = "harness"

Args = Mapping[str, str] | None
_R = TypeVar("_R", bound=PluginTestResult)


class PluginHarness:
    """Runs plugins once per call with a real `influxdb3_local`, over an in-memory engine.

    Queries are real SQL over the fixture data written with `write_lp` (or `load_fixture`).
    Log lines, every written line (by database) and the cache are captured in each run's
    result; writes are applied to the engine only with `apply_writes=True`. Time is a
    `ManualClock` you move with `advance`. Every run shares one test cache namespace, so plugin
    state carries from run to run, as between a trigger's calls.

    Example:
        with PluginHarness("plugins") as harness:
            harness.write_lp("cpu,host=a usage=91 1735689600000000000")
            result = harness.run_wal("high_cpu.py", "cpu,host=a usage=95")
            assert result.lines_for("test_db") == ["alerts,host=a level=\\"high\\""]
    """

    def __init__(
        self,
        plugin_dir: str | os.PathLike[str] | None = None,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        database: str = DEFAULT_DATABASE,
        apply_writes: bool = False,
        cache_name: str = HARNESS_CACHE,
    ) -> None:
        """Start a harness.

        Args:
            plugin_dir: Directory holding the plugins; defaults to `engine`'s.
            engine: Run over this engine (started, not stopped by `close`); default: a new
                in-memory engine with no background threads, stopped by `close`.
            clock: The time source of a new engine; default a `ManualClock` at 2025-01-01 UTC.
            database: The plugins' own database (created if missing).
            apply_writes: Write what plugins write into the engine after each successful run.
            cache_name: The test cache namespace the runs share.
        """
        if engine is None:
            engine = Engine(
                plugin_dir,
                background=False,
                watch_plugins=False,
                clock=clock if clock is not None else ManualClock(DEFAULT_START),
            )
            self._owns_engine = True
        else:
            self._owns_engine = False
        engine.start()
        self.engine = engine
        self.clock = engine.clock
        self.plugin_dir = Path(plugin_dir).resolve() if plugin_dir else engine.plugin_dir
        self.database = database
        self.apply_writes = apply_writes
        self.cache_name = cache_name
        self.runs: list[PluginTestResult] = []
        if database not in engine.list_databases():
            engine.create_database(database)
        self._caches = CacheStore(self.clock)
        self._runner = _runner(engine, self.plugin_dir, self._caches)

    # --- fixture data and time ---------------------------------------------------------------

    def write_lp(
        self, lp: str | bytes, *, database: str | None = None, precision: str = "auto"
    ) -> WriteResult:
        """Write fixture data (line protocol) for plugins' queries to find."""
        return self.engine.write_lp(
            database or self.database, lp, precision=precision, accept_partial=False
        )

    def load_fixture(
        self, path: str | os.PathLike[str], *, database: str | None = None, precision: str = "auto"
    ) -> WriteResult:
        """Write a line-protocol file as fixture data."""
        return self.write_lp(Path(path).read_bytes(), database=database, precision=precision)

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, database: str | None = None
    ) -> list[dict[str, Any]]:
        """Run SQL over the engine's data."""
        return self.engine.query(database or self.database, sql, params)

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the manual clock forward (cache TTLs, `now()` in SQL, default timestamps)."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(f"the harness clock is a {type(clock).__name__}, not a ManualClock")
        return clock.advance(seconds)

    @property
    def cache(self) -> PluginCache:
        """The cache plugins see in this harness (seed or inspect it)."""
        return self._caches.namespace(self.cache_name)

    # --- runs --------------------------------------------------------------------------------

    def run_wal(
        self,
        filename: str,
        input_lp: str | bytes,
        *,
        args: Args = None,
        database: str | None = None,
        check: bool = True,
    ) -> PluginTestResult:
        """Call `process_writes` once with the rows of `input_lp` (nanosecond timestamps; a
        line without one gets the clock's time).

        Raises:
            PluginRunFailed: The plugin failed or wrote bad lines (unless `check=False`).
        """
        result = self._runner.wal(
            filename,
            database=database or self.database,
            input_lp=input_lp,
            input_arguments=args,
            cache_name=self.cache_name,
        )
        return self._finish(filename, result, check)

    def run_schedule(
        self,
        filename: str,
        *,
        call_time: datetime | None = None,
        schedule: str | None = None,
        args: Args = None,
        database: str | None = None,
        check: bool = True,
    ) -> SchedulePluginTestResult:
        """Call `process_scheduled_call` once, for `call_time` or the next tick of `schedule`.

        Args:
            filename: The plugin.
            call_time: The tick (naive is taken as UTC); the plugin sees it naive UTC.
            schedule: Without `call_time`: the next tick after the clock's time of this cron
                expression or `every:DURATION` (default: the next whole second).
            args: The plugin's `args`.
            database: The plugin's database (default the harness's).
            check: Raise `PluginRunFailed` when the run failed.
        """
        result = self._runner.schedule(
            filename,
            database=database or self.database,
            schedule=schedule,
            input_arguments=args,
            cache_name=self.cache_name,
            call_time=call_time,
        )
        return self._finish(filename, result, check)

    def run_request(
        self,
        filename: str,
        *,
        query_params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: str | bytes = b"",
        args: Args = None,
        database: str | None = None,
        check: bool = True,
    ) -> RequestPluginTestResult:
        """Call `process_request` once; `result.response` is the HTTP answer it makes."""
        result = self._runner.request(
            filename,
            database=database or self.database,
            query_parameters=query_params,
            request_headers=headers,
            request_body=body,
            input_arguments=args,
            cache_name=self.cache_name,
        )
        return self._finish(filename, result, check)

    def replay(
        self,
        filename: str,
        lp: str | bytes | os.PathLike[str],
        *,
        batch_lines: int = DEFAULT_BATCH_LINES,
        args: Args = None,
        database: str | None = None,
        check: bool = True,
    ) -> list[PluginTestResult]:
        """Run a WAL plugin over recorded line protocol (text, or a file path), one call per
        `batch_lines` lines, as successive WAL flushes would."""
        data = Path(lp).read_bytes() if isinstance(lp, os.PathLike) else lp
        return [
            self.run_wal(filename, chunk, args=args, database=database, check=check)
            for chunk in split_lp(data, batch_lines)
        ]

    # --- what all runs did -------------------------------------------------------------------

    @property
    def log_lines(self) -> list[str]:
        """Every log line of every run, in order."""
        return [line for run in self.runs for line in run.log_lines]

    @property
    def writes(self) -> dict[str, list[str]]:
        """Every line written by every run, by database."""
        merged: dict[str, list[str]] = {}
        for run in self.runs:
            for db, lines in run.database_writes.items():
                merged.setdefault(db, []).extend(lines)
        return merged

    def close(self) -> None:
        """Stop the engine if the harness made it."""
        if self._owns_engine:
            self.engine.stop()

    def __enter__(self) -> PluginHarness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _finish(self, filename: str, result: _R, check: bool) -> _R:
        if self.apply_writes and not result.failed and not result.errors:
            self._apply(result)
        self.runs.append(result)
        if check and result.errors:
            raise PluginRunFailed(filename, result)
        return result

    def _apply(self, result: PluginTestResult) -> None:
        for db, lines in result.database_writes.items():
            try:
                self.engine.write_lp(db, "\n".join(lines), precision="ns", accept_partial=False)
            except WriteError as exc:
                result.errors.append(f"writing back to {db} failed: {exc}")


def _runner(engine: Engine, plugin_dir: Path | None, caches: CacheStore) -> DryRunner:
    """Dry runs over `engine`'s data with the harness's own loader and caches."""
    loader = None
    if plugin_dir is not None:
        loader = PluginLoader(plugin_dir, builtins=PLUGIN_BUILTINS, clock=engine.clock)
    return DryRunner(
        DryRunServices(
            loader=loader,
            caches=caches,
            clock=engine.clock,
            query=engine.query,
            has_database=lambda db: db in engine.list_databases(),
        )
    )
