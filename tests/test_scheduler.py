"""The scheduler: due ticks from a manual clock, catch-up policies, no overlap while busy."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest

from engine.clock import ManualClock, SystemClock
from engine.observability import Observability
from engine.runtime import SCHEDULE, CallInput, RuntimeServices, TriggerConfig, TriggerRuntime
from engine.scheduler import Scheduler
from engine.workers import WorkerPool

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class _Every:
    """Epoch-aligned ticks every `seconds`, the shape of an every: spec."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
        epoch = int(dt.timestamp())
        return datetime.fromtimestamp((epoch // self.seconds + 1) * self.seconds, UTC)


def _recorder() -> tuple[list[tuple[str, datetime]], Any]:
    fired: list[tuple[str, datetime]] = []

    def fire(key: str, tick: datetime) -> None:
        fired.append((key, tick))

    return fired, fire


def test_first_tick_is_aligned_and_nothing_fires_early() -> None:
    clock = ManualClock(T0 + timedelta(seconds=3))
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    assert scheduler.add("a", _Every(10)) == T0 + timedelta(seconds=10)
    assert scheduler.run_due() == 0
    clock.advance(7)
    assert scheduler.run_due() == 1
    assert fired == [("a", T0 + timedelta(seconds=10))]


@pytest.mark.parametrize("policy, expected", [
    ("all", [10, 20, 30, 40, 50]),
    ("latest", [50]),
    ("skip", []),
], ids=["all", "latest", "skip"])
def test_catch_up_policies_after_a_pause(policy: str, expected: list[int]) -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("a", _Every(10), catch_up=policy)
    clock.advance(55)
    scheduler.run_due()
    assert [int((t - T0).total_seconds()) for _, t in fired] == expected
    assert scheduler.next_tick("a") == T0 + timedelta(seconds=60)


def test_skip_still_runs_a_tick_that_is_on_time() -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("a", _Every(10), catch_up="skip")
    clock.advance(10)
    scheduler.run_due()
    assert fired == [("a", T0 + timedelta(seconds=10))]


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="catch_up must be one of all, latest, skip"):
        Scheduler(ManualClock(), lambda k, t: None).add("a", _Every(1), catch_up="some")


def test_busy_trigger_gets_no_new_tick_until_its_run_finishes() -> None:
    clock = ManualClock(T0)
    running: list[Future[Any]] = []

    def fire(key: str, tick: datetime) -> Future[Any]:
        future: Future[Any] = Future()
        running.append(future)
        return future

    scheduler = Scheduler(clock, fire)
    scheduler.add("a", _Every(10))
    clock.advance(35)
    assert scheduler.run_due() == 1
    assert scheduler.run_due() == 0
    running[0].set_result(None)
    assert scheduler.run_due() == 1
    running[1].set_result(None)
    running_count = scheduler.run_due()
    assert running_count == 1 and len(running) == 3


def test_async_triggers_do_not_wait_for_their_runs() -> None:
    clock = ManualClock(T0)
    running: list[Future[Any]] = []
    scheduler = Scheduler(clock, lambda k, t: running.append(Future()) or running[-1])
    scheduler.add("a", _Every(10), wait_for_run=False)
    clock.advance(30)
    assert scheduler.run_due() == 3


def test_ticks_of_many_triggers_fire_in_time_order() -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("three", _Every(3))
    scheduler.add("five", _Every(5))
    clock.advance(14)
    scheduler.run_due()
    assert [(k, int((t - T0).total_seconds())) for k, t in fired] == [
        ("three", 3), ("five", 5), ("three", 6), ("three", 9), ("five", 10), ("three", 12)]


def test_removed_trigger_no_longer_fires() -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("a", _Every(10))
    scheduler.remove("a")
    clock.advance(100)
    assert scheduler.run_due() == 0 and fired == []


def test_a_failing_fire_callback_does_not_stop_the_scheduler() -> None:
    clock = ManualClock(T0)
    calls: list[str] = []

    def fire(key: str, tick: datetime) -> None:
        calls.append(key)
        if key == "bad":
            raise RuntimeError("boom")

    scheduler = Scheduler(clock, fire)
    scheduler.add("bad", _Every(10))
    scheduler.add("good", _Every(10))
    clock.advance(10)
    scheduler.run_due()
    assert sorted(calls) == ["bad", "good"]


def test_background_thread_fires_on_the_real_clock() -> None:
    fired = threading.Event()
    scheduler = Scheduler(SystemClock(), lambda k, t: fired.set())
    scheduler.add("a", _Every(1))
    scheduler.start()
    try:
        assert fired.wait(3)
    finally:
        scheduler.stop()


def test_ticks_due_together_fire_in_the_order_the_triggers_were_added() -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    for key in ("c", "a", "b"):
        scheduler.add(key, _Every(10))
    clock.advance(20)
    scheduler.run_due()
    assert [k for k, _ in fired] == ["c", "a", "b", "c", "a", "b"]


def test_adding_a_key_again_replaces_its_schedule() -> None:
    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("a", _Every(10))
    assert scheduler.add("a", _Every(25)) == T0 + timedelta(seconds=25)
    clock.advance(50)
    scheduler.run_due()
    assert [int((t - T0).total_seconds()) for _, t in fired] == [25, 50]


def test_a_schedule_that_runs_out_stops_firing() -> None:
    class _Once:
        def next_after(self, dt: datetime, tz: tzinfo | None = None) -> datetime | None:
            return T0 + timedelta(seconds=5) if dt < T0 + timedelta(seconds=5) else None

    clock = ManualClock(T0)
    fired, fire = _recorder()
    scheduler = Scheduler(clock, fire)
    scheduler.add("once", _Once())
    clock.advance(100)
    assert scheduler.run_due() == 1
    assert scheduler.next_tick("once") is None and scheduler.run_due() == 0
    assert fired == [("once", T0 + timedelta(seconds=5))]


def test_with_a_lead_calls_are_prepared_early_but_never_run_before_their_tick() -> None:
    clock = ManualClock(T0)
    pool = WorkerPool(4)
    called: list[datetime] = []
    ran = threading.Event()
    loads: list[str] = []

    def plugin(api: Any, call_time: datetime, args: Any) -> None:
        called.append(call_time)
        ran.set()

    def load(name: str) -> Any:
        loads.append(name)
        return plugin

    services = RuntimeServices(clock=clock, observability=Observability(), load_function=load,
                               make_api=_Api, apply_writes=lambda p: 0,
                               disable=lambda r: None, pool=pool)
    runtime = TriggerRuntime(TriggerConfig(database="db", name="t", kind=SCHEDULE,
                                           arguments=None), services)
    scheduler = Scheduler(
        clock, lambda key, tick: runtime.submit(CallInput(kind=SCHEDULE, scheduled_time=tick)),
        lead_seconds=10.0)
    scheduler.add("t", _Every(10))
    scheduler.start()
    try:
        deadline = threading.Event()
        for _ in range(1000):
            if loads:
                break
            deadline.wait(0.005)
        assert loads == ["process_scheduled_call"]  # prepared ten seconds ahead
        assert not ran.wait(0.1)
        clock.advance(10)
        assert ran.wait(5)
        assert called == [datetime(2025, 1, 1, 0, 0, 10)]
    finally:
        scheduler.stop()
        pool.shutdown()


class _Api:
    def pending_writes(self) -> dict[str, list[str]]:
        return {}

    @property
    def log_entries(self) -> list[Any]:
        return []
