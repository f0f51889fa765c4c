"""Handing WAL flushes to WAL triggers: their batches, waiting for them, and laggards."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

import pyarrow as pa

from .batches import TableBatch, sparse_rows
from .runtime import WAL, CallInput, CallOutcome, TriggerRuntime
from .wal import WalFlush

logger = logging.getLogger(__name__)

# How long a delivery waits for a trigger without a `timeout` setting before moving on. Short,
# so that a plugin that hangs delays the other WAL triggers once and briefly; a trigger whose
# calls normally take longer sets `timeout` to keep every flush under the delivery checkpoint.
DEFAULT_DELIVERY_TIMEOUT = 2.0
# Flushes a lagging trigger may have waiting; later ones are skipped (and logged) past this,
# as InfluxDB 3 bounds each trigger's channel to 60 events.
MAX_QUEUED_FLUSHES = 60


@dataclass(kw_only=True, eq=False)
class WalTarget:
    """One running WAL trigger as delivery sees it."""

    database: str
    table_name: str | None
    runtime: TriggerRuntime
    timeout: float | None = None
    queued: list[Future[CallOutcome]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def behind(self) -> bool:
        """True while an earlier flush is still queued or running."""
        with self.lock:
            self.queued = [f for f in self.queued if not f.done()]
            return bool(self.queued)


class WalDelivery:
    """Gives each flush to every WAL trigger, in order, and waits for them within limits.

    A delivery waits for each trigger at most its `timeout` setting (else `timeout` here): a
    plugin that hangs holds the others back once, not forever. A trigger still busy with an
    earlier flush is "lagging": later flushes queue for it without anyone waiting, so every
    other trigger goes on; past `MAX_QUEUED_FLUSHES` they are skipped with an error in its log.
    Flushes queued for a lagging trigger are not covered by the delivery checkpoint.
    """

    def __init__(self, timeout: float = DEFAULT_DELIVERY_TIMEOUT) -> None:
        self.timeout = timeout

    def deliver(self, flush: WalFlush, targets: Iterable[WalTarget]) -> None:
        """Submit the flush to every target with rows in it; wait for those not lagging."""
        waits: list[tuple[WalTarget, Future[CallOutcome]]] = []
        for target in targets:
            batches = batches_for(flush, target.database, target.table_name)
            if not batches:
                continue
            lagging = target.behind()
            if len(target.queued) >= MAX_QUEUED_FLUSHES:
                target.runtime.log("ERROR", _skipped(flush, len(target.queued)))
                continue
            future = target.runtime.submit(CallInput(kind=WAL, table_batches=batches))
            with target.lock:
                target.queued.append(future)
            if not lagging:
                waits.append((target, future))
        self._wait(waits)

    def _wait(self, waits: list[tuple[WalTarget, Future[CallOutcome]]]) -> None:
        # Real seconds: these are waits on worker threads, not schedule times.
        start = time.monotonic()
        for target, future in sorted(waits, key=lambda item: self._limit(item[0])):
            limit = self._limit(target)
            wait([future], timeout=max(0.0, limit - (time.monotonic() - start)))
            if not future.done():
                target.runtime.log(
                    "WARN",
                    f"still processing a WAL flush after {limit:g}s; later flushes queue for "
                    "this trigger without holding back the others",
                )

    def _limit(self, target: WalTarget) -> float:
        return target.timeout if target.timeout is not None else self.timeout


def _skipped(flush: WalFlush, queued: int) -> str:
    return (
        f"skipped WAL flush {flush.seq} ({flush.row_count} rows): {queued} flushes already wait "
        "behind a call that is still running"
    )


def batches_for(flush: WalFlush, db: str, table_name: str | None) -> list[TableBatch]:
    """One database's batches for one trigger; `table:X` gets X alone, and only if it has rows.

    Each call gets its own row dicts (plugins may change them), built only if the plugin reads
    them; the Arrow tables are immutable, so every trigger shares one per table.
    """
    tables = flush.tables(db)
    names = list(tables) if table_name is None else [t for t in tables if t == table_name]
    return [_batch(flush, db, name, tables[name]) for name in names if tables[name].num_rows]


def _batch(flush: WalFlush, db: str, name: str, arrow: pa.Table) -> TableBatch:
    def plain() -> pa.Table:
        table = flush.plain(db, name)
        return table if table is not None else arrow

    return TableBatch(name, plain, lambda: sparse_rows(arrow), num_rows=arrow.num_rows)
