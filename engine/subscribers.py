"""WAL subscribers: ordered delivery of flushes on one thread, with durable checkpoints."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from .durable import fsync_directory
from .wal import WalFlush, WalRecord

logger = logging.getLogger(__name__)

FlushCallback = Callable[[WalFlush], None]
# Reads durable records with after < seq <= through from the WAL, in order.
BacklogReader = Callable[[int, int], Iterator[WalRecord]]

CHECKPOINT_SUFFIX = ".json"


class CheckpointStore:
    """`checkpoints/<name>.json`: the last WAL sequence each durable subscriber has processed.

    Without a directory the store keeps nothing, so nothing is durable.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._seqs: dict[str, int] = {}
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._seqs = self._load(directory)

    @staticmethod
    def _load(directory: Path) -> dict[str, int]:
        seqs: dict[str, int] = {}
        for path in directory.glob(f"*{CHECKPOINT_SUFFIX}.tmp"):
            path.unlink()
        for path in sorted(directory.glob(f"*{CHECKPOINT_SUFFIX}")):
            try:
                seqs[unquote(path.name[: -len(CHECKPOINT_SUFFIX)])] = int(
                    json.loads(path.read_text())["seq"]
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.error("ignoring unreadable subscriber checkpoint %s: %s", path, exc)
        return seqs

    @property
    def durable(self) -> bool:
        """Whether checkpoints survive a restart."""
        return self.directory is not None

    def get(self, name: str) -> int | None:
        """The stored checkpoint of `name`, if it has one."""
        with self._lock:
            return self._seqs.get(name)

    def names(self) -> list[str]:
        """Every subscriber with a stored checkpoint, live or not."""
        with self._lock:
            return sorted(self._seqs)

    def minimum(self) -> int | None:
        """The lowest checkpoint: the WAL must be kept after it."""
        with self._lock:
            return min(self._seqs.values(), default=None)

    def put(self, name: str, seq: int) -> None:
        """Store a checkpoint durably (temporary file, fsync, rename, fsync of the directory)."""
        if self.directory is None:
            return
        path = self.directory / f"{quote(name, safe='')}{CHECKPOINT_SUFFIX}"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"name": name, "seq": seq}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(self.directory)
        with self._lock:
            self._seqs[name] = seq

    def remove(self, name: str) -> None:
        """Forget a subscriber's checkpoint so it no longer holds back WAL removal."""
        with self._lock:
            self._seqs.pop(name, None)
        if self.directory is not None:
            (self.directory / f"{quote(name, safe='')}{CHECKPOINT_SUFFIX}").unlink(missing_ok=True)


@dataclass(eq=False)
class Subscription:
    """A live subscriber: `position` is the last sequence number handed to it (or skipped)."""

    name: str
    callback: FlushCallback
    durable: bool
    position: int
    _dispatcher: Dispatcher = field(repr=False)
    active: bool = True

    def cancel(self, *, forget: bool = False) -> None:
        """Stop deliveries; with `forget`, also drop the durable checkpoint."""
        self._dispatcher.unsubscribe(self.name, forget=forget)


@dataclass(frozen=True, slots=True)
class _Batch:
    records: tuple[WalRecord, ...]
    through: int


class Dispatcher:
    """Hands WAL records to subscribers in sequence order, one batch at a time.

    Each submitted batch becomes one `WalFlush` shared by every subscriber that has not seen its
    records yet. A subscriber that is behind (a durable one resuming from its checkpoint) first
    gets the missing records read back from the WAL. With `background`, batches are delivered
    on one daemon thread; without it, `submit` delivers before returning.
    """

    def __init__(
        self,
        checkpoints: CheckpointStore,
        backlog: BacklogReader | None,
        *,
        background: bool,
        backlog_rows: int = 100_000,
    ) -> None:
        self.checkpoints = checkpoints
        self._backlog = backlog
        self._backlog_rows = backlog_rows
        self._background = background
        self._subs: dict[str, Subscription] = {}
        self._queue: deque[_Batch] = deque()
        self._cond = threading.Condition()
        self._done_through = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._drain_lock = threading.Lock()
        self._drainer: int | None = None

    def start(self) -> None:
        """Start the delivery thread (only with `background`)."""
        if self._background and self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="wal-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Deliver what is queued, then stop the delivery thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("WAL delivery still busy after %s s; leaving it behind", timeout)
            self._thread = None
        else:
            self._drain_inline()  # never started: deliver what was queued in this thread

    def resume_after(self, seq: int) -> None:
        """Count every record up to `seq` as delivered (what a restart finds already done)."""
        with self._cond:
            self._done_through = max(self._done_through, seq)
            self._cond.notify_all()

    def subscribe(
        self, name: str, callback: FlushCallback, *, durable: bool, current_seq: int
    ) -> Subscription:
        """Add a subscriber that sees every record after `current_seq` (or its checkpoint).

        A durable subscriber with a stored checkpoint resumes right after it: the records it
        has not processed are read back from the WAL and delivered before new ones.

        Raises:
            ValueError: a live subscriber already has that name.
        """
        stored = self.checkpoints.get(name) if durable else None
        position = current_seq if stored is None else min(stored, current_seq)
        with self._cond:
            if name in self._subs:
                raise ValueError(f"a WAL subscriber named {name!r} is already subscribed")
            sub = Subscription(name, callback, durable, position, self)
            self._subs[name] = sub
        if durable and stored is None:
            self.checkpoints.put(name, position)
        if position < current_seq:
            logger.info(
                "WAL subscriber %r resumes after sequence %d; catching up to %d",
                name,
                position,
                current_seq,
            )
            self.submit((), through=current_seq)
        return sub

    def unsubscribe(self, name: str, *, forget: bool = False) -> None:
        """Remove a subscriber; with `forget`, drop its checkpoint too."""
        with self._cond:
            sub = self._subs.pop(name, None)
        if sub is not None:
            sub.active = False
        if forget:
            self.checkpoints.remove(name)

    def subscriptions(self) -> list[Subscription]:
        """The live subscribers, in subscription order."""
        with self._cond:
            return list(self._subs.values())

    def submit(self, records: Iterable[WalRecord], *, through: int) -> None:
        """Queue one delivery of `records` (in order), after which everyone is at `through`."""
        batch = _Batch(tuple(records), through)
        with self._cond:
            self._queue.append(batch)
            self._cond.notify_all()
        if not self._background:
            self._drain_inline()

    def wait(self, through: int, timeout: float | None = None) -> bool:
        """Block until every batch up to `through` was delivered; False on timeout.

        Called from inside a subscriber callback it returns at once, since waiting for the
        delivery thread from that thread could never end.
        """
        if threading.get_ident() in (self._drainer, _ident(self._thread)):
            return False
        if self._background and self._thread is None:
            self._drain_inline()  # not started yet: deliver in the caller's thread
        with self._cond:
            return self._cond.wait_for(lambda: self._done_through >= through, timeout)

    @property
    def delivered_through(self) -> int:
        """The sequence number every subscriber has been brought to."""
        with self._cond:
            return self._done_through

    def _drain_inline(self) -> None:
        if self._drainer == threading.get_ident():
            return  # a callback submitted more: the running drain loop picks it up
        with self._drain_lock:
            self._drainer = threading.get_ident()
            try:
                while (batch := self._next(block=False)) is not None:
                    self._process(batch)
            finally:
                self._drainer = None

    def _run(self) -> None:
        while (batch := self._next(block=True)) is not None:
            try:
                self._process(batch)
            except Exception:
                logger.exception("WAL delivery of batch through %d failed", batch.through)

    def _next(self, *, block: bool) -> _Batch | None:
        with self._cond:
            while not self._queue:
                if not block or self._stopping:
                    return None
                self._cond.wait()
            return self._queue.popleft()

    def _process(self, batch: _Batch) -> None:
        shared = WalFlush.from_records(batch.records) if batch.records else None
        for sub in self.subscriptions():
            if sub.active:
                self._deliver(sub, batch, shared)
        with self._cond:
            self._done_through = max(self._done_through, batch.through)
            self._cond.notify_all()

    def _deliver(self, sub: Subscription, batch: _Batch, shared: WalFlush | None) -> None:
        first = batch.records[0].seq if batch.records else batch.through + 1
        if sub.position < first - 1:
            self._catch_up(sub, first - 1)
        live = [r for r in batch.records if r.seq > sub.position]
        if live:
            flush = shared if shared is not None and len(live) == len(batch.records) else None
            self._call(sub, flush or WalFlush.from_records(live))
        self._advance(sub, batch.through)

    def _catch_up(self, sub: Subscription, through: int) -> None:
        if self._backlog is None:
            self._advance(sub, through)
            return
        chunk: list[WalRecord] = []
        rows = 0
        for record in self._backlog(sub.position, through):
            chunk.append(record)
            rows += record.row_count
            if rows >= self._backlog_rows:
                self._call(sub, WalFlush.from_records(chunk))
                self._advance(sub, chunk[-1].seq)
                chunk, rows = [], 0
        if chunk:
            self._call(sub, WalFlush.from_records(chunk))
        self._advance(sub, through)

    @staticmethod
    def _call(sub: Subscription, flush: WalFlush) -> None:
        if not flush.row_count or not sub.active:
            return
        try:
            sub.callback(flush)
        except Exception:
            logger.exception("WAL subscriber %r failed on flush %d", sub.name, flush.seq)

    def _advance(self, sub: Subscription, seq: int) -> None:
        if seq <= sub.position:
            return
        sub.position = seq
        if sub.durable and sub.active:
            try:
                self.checkpoints.put(sub.name, seq)
            except OSError as exc:
                logger.error("could not save the checkpoint of %r at %d: %s", sub.name, seq, exc)


def _ident(thread: threading.Thread | None) -> int | None:
    return thread.ident if thread is not None else None
