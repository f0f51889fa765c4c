"""Tick batches: claimed calls prepared before the tick, run back to back, helped when stuck."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.observability import LogEntry, Observability
from engine.runtime import (
    SCHEDULE,
    CallInput,
    CallOutcome,
    RuntimeServices,
    TriggerConfig,
    TriggerRuntime,
    claiming,
)
from engine.tick_batch import STALL_SECONDS, TickBatch, dispatch_claims
from engine.workers import WorkerPool

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class _Api:
    def pending_writes(self) -> Mapping[str, list[str]]:
        return {}

    @property
    def log_entries(self) -> list[LogEntry]:
        return []


class _World:
    """Runtimes over one pool and one clock; counts entry-point loads."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.pool = WorkerPool(8)
        self.observability = Observability()
        self.loads = 0
        self.calls: list[tuple[str, datetime, int]] = []
        self.lock = threading.Lock()

    def runtime(self, name: str, body: Callable[[], None] | None = None,
                **settings: Any) -> TriggerRuntime:
        def plugin(api: _Api, call_time: datetime, args: Any) -> None:
            with self.lock:
                self.calls.append((name, call_time, threading.get_ident()))
            if body is not None:
                body()

        def load(entry: str) -> Callable[..., None]:
            with self.lock:
                self.loads += 1
            return plugin

        services = RuntimeServices(clock=self.clock, observability=self.observability,
                                   load_function=load, make_api=_Api,
                                   apply_writes=lambda pending: 0, disable=lambda reason: None,
                                   pool=self.pool)
        config = TriggerConfig(database="db", name=name, kind=SCHEDULE, arguments=None,
                               **settings)
        return TriggerRuntime(config, services)


@pytest.fixture
def world() -> Iterator[_World]:
    state = _World()
    yield state
    state.pool.shutdown()


def _tick(seconds: int = 1) -> CallInput:
    return CallInput(kind=SCHEDULE, scheduled_time=T0 + timedelta(seconds=seconds))


def _submit_all(runtimes: list[TriggerRuntime]) -> tuple[list[Any], list[Future[CallOutcome]]]:
    with claiming() as claims:
        futures = [runtime.submit(_tick()) for runtime in runtimes]
    return claims, futures


def test_submitting_inside_claiming_collects_instead_of_running(world: _World) -> None:
    runtimes = [world.runtime(f"t{n}") for n in range(3)]
    claims, futures = _submit_all(runtimes)
    assert [c.runtime for c in claims] == runtimes
    assert not any(f.done() for f in futures) and world.calls == []
    outside = runtimes[0].submit(_tick(2))  # outside the block: queued behind its claim
    assert not outside.done() and world.calls == []
    for claim in claims:  # nobody runs the claims: stopping resolves them
        claim.runtime.stop()
    assert all(f.result(timeout=5).status == "cancelled" for f in [*futures, outside])


def test_a_batch_runs_its_calls_in_order_on_one_thread_then_records_them(world: _World) -> None:
    runtimes = [world.runtime(f"t{n}") for n in range(20)]
    claims, futures = _submit_all(runtimes)
    dispatch_claims(claims, world.clock)
    outcomes = [f.result(timeout=10) for f in futures]
    assert all(o.ok and o.attempts == 1 for o in outcomes)
    assert [name for name, _, _ in world.calls] == [f"t{n}" for n in range(20)]
    assert len({thread for _, _, thread in world.calls}) == 1
    assert [r.trigger_name for r in world.observability.runs()] == [f"t{n}" for n in range(20)]
    # Nobody reads a scheduled tick's outcome lines; they are in the log buffer only.
    assert outcomes[0].log_lines == []
    assert world.observability.logs()[0].message == (
        "starting execution with scheduled time 2025-01-01 00:00:01 UTC")


def test_calls_wait_for_the_tick_but_are_prepared_before_it(world: _World) -> None:
    called = threading.Event()
    runtimes = [world.runtime("early", called.set), world.runtime("other")]
    claims, futures = _submit_all(runtimes)
    [batch] = dispatch_claims(claims, world.clock, start_at=T0 + timedelta(seconds=1))
    _wait_until(lambda: world.loads == 2)
    assert not called.wait(0.1)  # prepared, but the tick has not come
    world.clock.advance(1)
    assert called.wait(5)
    assert all(f.result(timeout=5).ok for f in futures)
    assert batch.preparing_seconds is not None


def test_assist_adds_a_thread_when_a_call_holds_the_batch_up(world: _World) -> None:
    release = threading.Event()
    blocked = threading.Event()

    def hold() -> None:
        blocked.set()
        release.wait(10)

    runtimes = [world.runtime("slow", hold)] + [world.runtime(f"t{n}") for n in range(4)]
    claims, futures = _submit_all(runtimes)
    batch = TickBatch(claims, world.pool, world.clock)
    batch.dispatch()
    assert blocked.wait(5)
    threading.Event().wait(STALL_SECONDS)
    assert batch.assist() is True  # no call started for a while: a helper joins
    assert all(f.result(timeout=5).ok for f in futures[1:])
    assert not futures[0].done()
    release.set()
    assert futures[0].result(timeout=5).ok
    assert batch.helpers == 1 and not batch.calling


def test_a_batch_that_moves_on_gets_no_helper(world: _World) -> None:
    claims, futures = _submit_all([world.runtime("a")])
    batch = TickBatch(claims, world.pool, world.clock)
    assert batch.assist() is False  # still preparing: nothing to help with
    batch.dispatch()
    assert futures[0].result(timeout=5).ok
    assert batch.assist() is False and batch.helpers == 0


def test_a_synchronous_trigger_queues_calls_behind_its_claim(world: _World) -> None:
    runtime = world.runtime("sync")
    with claiming() as claims:
        first = runtime.submit(_tick(1))
        second = runtime.submit(_tick(2))  # already claimed once: this one queues
    assert len(claims) == 1
    dispatch_claims(claims, world.clock)
    assert first.result(timeout=5).ok and second.result(timeout=5).ok
    assert [t.second for _, t, _ in world.calls] == [1, 2]


def test_a_stopped_trigger_in_a_batch_is_cancelled_and_the_rest_run(world: _World) -> None:
    runtimes = [world.runtime("gone"), world.runtime("kept")]
    claims, futures = _submit_all(runtimes)
    runtimes[0].stop()
    dispatch_claims(claims, world.clock)
    assert futures[0].result(timeout=5).status == "cancelled"
    assert futures[1].result(timeout=5).ok
    assert [name for name, _, _ in world.calls] == ["kept"]


def test_a_failing_call_in_a_batch_is_retried_off_the_batch_thread(world: _World) -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")

    runtimes = [world.runtime("flaky", flaky, error_behavior="retry", retry_backoff=0.001),
                world.runtime("fine")]
    claims, futures = _submit_all(runtimes)
    dispatch_claims(claims, world.clock)
    assert futures[1].result(timeout=5).ok
    outcome = futures[0].result(timeout=5)
    assert outcome.ok and outcome.attempts == 3


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    pause = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        pause.wait(0.005)
    raise AssertionError("condition not met in time")


def test_stopping_before_the_tick_cancels_the_calls(world: _World) -> None:
    stopping = threading.Event()
    claims, futures = _submit_all([world.runtime("a"), world.runtime("b")])
    [batch] = dispatch_claims(claims, world.clock, start_at=T0 + timedelta(seconds=30),
                              stopping=stopping)
    _wait_until(lambda: world.loads == 2)
    stopping.set()
    assert [f.result(timeout=5).status for f in futures] == ["cancelled", "cancelled"]
    assert world.calls == [] and batch.finished


def test_a_batch_for_a_shut_down_pool_is_cancelled(world: _World) -> None:
    claims, futures = _submit_all([world.runtime("a")])
    world.pool.shutdown()
    dispatch_claims(claims, world.clock)
    assert futures[0].result(timeout=5).status == "cancelled"
    assert world.calls == []


def test_the_collector_is_off_only_while_a_batch_starts_its_calls(world: _World) -> None:
    seen: list[bool] = []
    claims, futures = _submit_all([world.runtime("a", lambda: seen.append(gc.isenabled())),
                                   world.runtime("b", lambda: seen.append(gc.isenabled()))])
    assert gc.isenabled()
    dispatch_claims(claims, world.clock)
    assert all(f.result(timeout=5).ok for f in futures)
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_call_that_holds_its_batch_up_gives_the_collector_back(world: _World) -> None:
    release, blocked = threading.Event(), threading.Event()

    def hold() -> None:
        blocked.set()
        release.wait(10)

    claims, futures = _submit_all([world.runtime("slow", hold), world.runtime("next")])
    batch = TickBatch(claims, world.pool, world.clock)
    batch.dispatch()
    assert blocked.wait(5)
    assert not gc.isenabled()
    threading.Event().wait(STALL_SECONDS)
    assert batch.assist() is True
    assert gc.isenabled()  # while the slow call still runs
    release.set()
    assert all(f.result(timeout=5).ok for f in futures)
    assert gc.isenabled()
