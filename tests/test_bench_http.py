"""Specification of the HTTP benchmark's CPU pinning (benchmarks.bench_http): which CPUs the
servers and the load generator get, and that pinning is undone afterwards."""

from __future__ import annotations

import os
import threading

import pytest

from benchmarks.bench_http import pinned, pinning_plan


def _thread_affinity_of_a_new_thread() -> set[int]:
    seen: list[set[int]] = []
    thread = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
    thread.start()
    thread.join(5)
    return seen[0]


def test_no_plan_when_pinning_is_not_asked_for() -> None:
    assert pinning_plan(False) is None


def test_the_plan_is_the_first_two_allowed_cpus() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert len(allowed) >= 2, f"this machine lets the tests use CPUs {allowed} only"
    assert pinning_plan(True) == (allowed[0], allowed[1])


def test_no_plan_when_only_one_cpu_is_allowed() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    with pinned(allowed[-1]):
        assert pinning_plan(True) is None


@pytest.mark.parametrize("which", [0, -1], ids=["first-cpu", "last-cpu"])
def test_pinned_runs_the_block_and_the_threads_it_starts_on_one_cpu_then_restores(
        which: int) -> None:
    before = os.sched_getaffinity(0)
    cpu = sorted(before)[which]
    with pinned(cpu):
        assert os.sched_getaffinity(0) == {cpu}
        assert _thread_affinity_of_a_new_thread() == {cpu}
    assert os.sched_getaffinity(0) == before
    assert _thread_affinity_of_a_new_thread() == before


def test_pinned_restores_the_affinity_when_the_block_raises() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError, match="inside"), pinned(sorted(before)[0]):
        raise RuntimeError("inside")
    assert os.sched_getaffinity(0) == before


def test_pinned_none_changes_nothing() -> None:
    before = os.sched_getaffinity(0)
    with pinned(None):
        assert os.sched_getaffinity(0) == before
        assert _thread_affinity_of_a_new_thread() == before
    assert os.sched_getaffinity(0) == before
