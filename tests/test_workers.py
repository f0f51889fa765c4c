"""The worker pool: daemon threads, elastic up to a cap, failures delivered through futures."""

from __future__ import annotations

import threading

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
