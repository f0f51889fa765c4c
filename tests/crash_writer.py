"""Child process for test_crash.py: writes acknowledged batches until it is killed.

Usage: crash_writer.py DATA_DIR SEEN_FILE FIRST_BATCH LINES_PER_BATCH

Each batch is LINES_PER_BATCH lines of table `crash` in database `crashdb`, tagged with its
batch id `b` and line index `i`, with a unique timestamp. The batch id is printed (flushed)
only after the synchronous write returned, so every printed id is an acknowledged write. A
durable subscriber appends `b i` for every row it is handed to SEEN_FILE (flushed before it
returns, so what it wrote survives SIGKILL).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from engine.clock import SystemClock
from engine.storage import Storage
from engine.wal import WalFlush

DB = "crashdb"
TABLE = "crash"
SUBSCRIBER = "crash-subscriber"


def batch_lines(batch: int, count: int) -> str:
    """One batch of line protocol with unique series and times."""
    base = 1_700_000_000_000_000_000 + batch * 1_000_000
    return "\n".join(
        f"{TABLE},w=child b={batch}i,i={i}i {base + i}" for i in range(count)
    )


def recorder(out: TextIO) -> Callable[[WalFlush], None]:
    """A subscriber callback appending `b i` lines to `out`."""

    def record(flush: WalFlush) -> None:
        table = flush.tables(DB).get(TABLE)
        if table is None:
            return
        pairs = zip(table.column("b").to_pylist(), table.column("i").to_pylist(), strict=True)
        out.write("".join(f"{b} {i}\n" for b, i in pairs))
        out.flush()

    return record


def main(argv: list[str]) -> int:
    data_dir, seen_file, first, per_batch = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    with open(seen_file, "a", encoding="utf-8") as out:
        storage = Storage(
            data_dir, SystemClock(), flush_interval=0.05, snapshot_bytes=256 * 1024
        )
        storage.subscribe(SUBSCRIBER, recorder(out))
        storage.start()
        print("ready", flush=True)
        batch = first
        while True:
            storage.write(DB, batch_lines(batch, per_batch))
            print(batch, flush=True)
            batch += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
