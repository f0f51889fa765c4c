"""The worker pool: daemon threads, elastic up to a cap, failures delivered through futures."""

from __future__ import annotations

import threading
import time

import pytest

from engine.workers import WorkerPool


def test_runs_callables_and_returns_results() -> None:
    pool = WorkerPool(4)
    futures = [pool.submit(lambda i=i: i * i) for i in range(20)]
    assert [f.result(timeout=5) for f in futures] == [i * i for i in range(20)]
    pool.shutdown()


@pytest.mark.parametrize("exc", [ValueError("boom"), SystemExit(3), KeyboardInterrupt()],
                         ids=["exception", "system-exit", "keyboard-interrupt"])
def test_any_exception_reaches_the_future_and_the_pool_survives(exc: BaseException) -> None:
    pool = WorkerPool(1)

    def fail() -> None:
        raise exc

    with pytest.raises(type(exc)):
        pool.submit(fail).result(timeout=5)
    assert pool.submit(lambda: "alive").result(timeout=5) == "alive"
    pool.shutdown()


def test_a_blocked_task_does_not_stop_others_and_threads_are_daemons() -> None:
    pool = WorkerPool(3)
    release = threading.Event()
    blocked = pool.submit(release.wait)
    names = [pool.submit(lambda: threading.current_thread()).result(timeout=5) for _ in range(5)]
    assert all(t.daemon for t in names)
    assert pool.threads <= 3
    release.set()
    assert blocked.result(timeout=5) is True
    pool.shutdown()


def test_thread_count_never_passes_the_cap() -> None:
    pool = WorkerPool(2)
    gate = threading.Event()
    futures = [pool.submit(gate.wait) for _ in range(10)]
    assert pool.threads == 2
    gate.set()
    assert all(f.result(timeout=5) for f in futures)
    pool.shutdown()


def test_submit_after_shutdown_is_refused() -> None:
    pool = WorkerPool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: None)


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkerPool(0)


def _wait_idle(pool: WorkerPool, threads: int) -> None:
    deadline = time.monotonic() + 5
    while not (pool.threads == threads and pool.busy == 0):
        assert time.monotonic() < deadline, "the pool never went idle"
        time.sleep(0.001)


@pytest.mark.parametrize("idle_threads", [1, 2])
def test_a_burst_never_queues_behind_a_busy_thread_while_the_pool_has_room(
    idle_threads: int,
) -> None:
    pool = WorkerPool(8)
    warm = threading.Barrier(idle_threads, timeout=5)
    for future in [pool.submit(warm.wait) for _ in range(idle_threads)]:
        future.result(timeout=5)
    _wait_idle(pool, idle_threads)
    # Three tasks that can only finish together: each needs its own thread at once.
    together = threading.Barrier(3, timeout=5)
    futures = [pool.submit(together.wait) for _ in range(3)]
    assert sorted(f.result(timeout=10) for f in futures) == [0, 1, 2]
    pool.shutdown()


def test_a_thread_retiring_at_the_cap_leaves_no_task_stranded() -> None:
    pool = WorkerPool(1, idle_seconds=0.01)
    for _ in range(100):
        time.sleep(0.01)  # let the only thread reach its idle timeout, or nearly
        assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    pool.shutdown()
