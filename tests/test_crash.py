"""kill -9 during sustained writes: no acknowledged line lost or duplicated, none undelivered."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import REPO_ROOT
from crash_writer import DB, SUBSCRIBER, TABLE, recorder

from engine.clock import SystemClock
from engine.storage import Storage

KILLS = 8
LINES_PER_BATCH = 200
SEED = int(os.environ.get("CRASH_TEST_SEED", "20250101"))


class Child:
    """One writer process and the batch ids it acknowledged on stdout."""

    def __init__(self, data_dir: Path, seen: Path, first_batch: int) -> None:
        self.acked: list[int] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "tests" / "crash_writer.py"), str(data_dir),
             str(seen), str(first_batch), str(LINES_PER_BATCH)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "ready":
                self.ready.set()
            else:
                self.acked.append(int(line))

    def kill_after(self, delay: float) -> None:
        if not self.ready.wait(60):
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"the writer never became ready:\n{err}")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.005)
        assert self.process.poll() is None, self.process.communicate()[1]
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def check_after_restart(data_dir: Path, seen: Path, acked: set[int]) -> None:
    """Reopen, let the durable subscriber catch up, and check the table and what it saw."""
    with open(seen, "a", encoding="utf-8") as out:
        storage = Storage(data_dir, SystemClock(), background=False)
        storage.subscribe(SUBSCRIBER, recorder(out))
        rows = storage.query(
            DB, f"SELECT b, count(*) AS n, count(DISTINCT i) AS d FROM {TABLE} GROUP BY b"
        )
        storage.close()
    stored = {row["b"]: (row["n"], row["d"]) for row in rows}
    missing = sorted(b for b in acked if b not in stored)
    assert not missing, f"acknowledged batches lost: {missing[:10]} (seed {SEED})"
    wrong = {b: counts for b, counts in stored.items() if counts != (LINES_PER_BATCH,) * 2}
    assert not wrong, f"batches stored partly or twice: {wrong} (seed {SEED})"
    seen_pairs = {tuple(map(int, line.split())) for line in seen.read_text().splitlines()}
    unseen = [b for b in acked if any((b, i) not in seen_pairs for i in range(LINES_PER_BATCH))]
    assert not unseen, f"acknowledged batches the subscriber never saw: {unseen[:10]}"


def test_kill_9_loses_no_acknowledged_line_and_delivers_each_at_least_once(
    tmp_path: Path,
) -> None:
    data_dir, seen = tmp_path / "data", tmp_path / "seen.txt"
    seen.touch()
    rng = random.Random(SEED)
    acked: set[int] = set()
    for run in range(KILLS):
        child = Child(data_dir, seen, first_batch=run * 1_000_000)
        child.kill_after(rng.uniform(0.05, 0.9))
        acked.update(child.acked)
        check_after_restart(data_dir, seen, acked)
    assert len(acked) >= KILLS, "the writers acknowledged almost nothing; the test proves little"
