"""Soft-timeout warnings for calls that are still running."""

from __future__ import annotations

import threading

from engine.overrun import OverrunWatch


def test_warns_only_about_calls_still_running_at_their_deadline() -> None:
    watch = OverrunWatch()
    warned: list[str] = []
    late = threading.Event()

    def warn(name: str) -> None:
        warned.append(name)
        if name == "slow":
            late.set()

    quick = watch.watch(0.05, lambda: warn("quick"))
    watch.watch(0.05, lambda: warn("slow"))
    quick.done()  # the quick call ended in time
    assert late.wait(5)
    assert warned == ["slow"]


def test_deadlines_fire_in_order_whatever_order_they_were_set() -> None:
    watch = OverrunWatch()
    order: list[float] = []
    both = threading.Event()

    def warn(seconds: float) -> None:
        order.append(seconds)
        if len(order) == 2:
            both.set()

    watch.watch(0.08, lambda: warn(0.08))
    watch.watch(0.02, lambda: warn(0.02))
    assert both.wait(5)
    assert order == [0.02, 0.08]


def test_a_failing_warning_does_not_stop_the_watcher() -> None:
    watch = OverrunWatch()
    reached = threading.Event()

    def broken() -> None:
        raise RuntimeError("cannot log")

    watch.watch(0.01, broken)
    watch.watch(0.03, reached.set)
    assert reached.wait(5)
