"""`WalBuffer`: writes waiting for the WAL, and the group commit that makes them durable."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from .wal import WalOp, WalRecord, WriteAheadLog


class WalBuffer:
    """Operations buffered for the next WAL record, and records waiting to be written.

    Every operation added gets the sequence number of the record it will be written in
    (`open_seq`), so the table store can be told which record its rows belong to. `persist`
    closes the buffer into a record and writes every waiting record in order; writers that
    need durability call it with the sequence number they wait for, and whoever holds the
    flush lock writes everything buffered, so one fsync serves every writer waiting then.
    A failed write keeps its record waiting, to be retried by the next `persist`.
    """

    def __init__(
        self,
        wal: WriteAheadLog | None,
        last_seq: int,
        lock: threading.RLock,
        on_durable: Callable[[WalRecord], None],
    ) -> None:
        """Start after record `last_seq`; `lock` guards additions; `on_durable` runs under it."""
        self._wal = wal
        self._lock = lock
        self._flush_lock = threading.RLock()
        self._on_durable = on_durable
        self._ops: list[WalOp] = []
        self.rows = 0
        self._waiting: deque[WalRecord] = deque()
        self.durable_seq = last_seq
        self.open_seq = last_seq + 1

    @property
    def flush_lock(self) -> threading.RLock:
        """Held while records are written; hold it (then the lock) to freeze durability."""
        return self._flush_lock

    def add(self, op: WalOp, rows: int = 0) -> int:
        """Buffer one operation (the caller holds the lock); return its record's sequence."""
        self._ops.append(op)
        self.rows += rows
        return self.open_seq

    def persist(self, until: int | None = None) -> None:
        """Make everything buffered durable, in order (nothing to do if `until` already is).

        Raises:
            OSError: a record could not be written; it and later ones stay waiting.
        """
        with self._flush_lock:
            if until is not None and self.durable_seq >= until:
                return
            with self._lock:
                if self._ops:
                    self._waiting.append(WalRecord(self.open_seq, tuple(self._ops)))
                    self.open_seq += 1
                    self._ops, self.rows = [], 0
            while self._waiting:
                record = self._waiting[0]
                if self._wal is not None:
                    self._wal.write(record.seq, record.ops)
                with self._lock:
                    self._waiting.popleft()
                    self.durable_seq = record.seq
                    self._on_durable(record)
