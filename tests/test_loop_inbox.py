"""Specification of `LoopInbox` (engine.http.loop_inbox): values from other threads, one
wake-up of the event loop per batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from engine.http.loop_inbox import LoopInbox


class CountingInbox(LoopInbox):
    """A real inbox that counts how often the loop ran a delivery."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.deliveries = 0

    def _deliver(self) -> None:
        self.deliveries += 1
        super()._deliver()


def expect(inbox: LoopInbox) -> tuple[asyncio.Future[Any], Callable[[Any], None]]:
    """`inbox.expect()`, typed for values of any kind."""
    return inbox.expect()


def _run(coro: Any) -> Any:
    """Run a coroutine on a fresh event loop that records unhandled errors."""
    errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        return await coro

    result = asyncio.run(main())
    assert errors == []
    return result


@pytest.mark.parametrize(("threads", "per_thread"), [(1, 1), (1, 50), (4, 25), (8, 100)],
                         ids=["one-value", "one-thread-many", "four-threads", "eight-threads"])
def test_values_from_other_threads_reach_their_own_waiters(threads: int,
                                                           per_thread: int) -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        inbox = LoopInbox(asyncio.get_running_loop())
        pairs = [[expect(inbox) for _ in range(per_thread)] for _ in range(threads)]
        start = threading.Barrier(threads)

        def produce(index: int) -> None:
            start.wait(5)
            for n, (_, deliver) in enumerate(pairs[index]):
                deliver((index, n))

        workers = [threading.Thread(target=produce, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        got = await asyncio.wait_for(
            asyncio.gather(*(waiter for row in pairs for waiter, _ in row)), 10)
        for worker in workers:
            worker.join(5)
        expected = [(i, n) for i in range(threads) for n in range(per_thread)]
        return list(got), expected

    got, expected = _run(scenario())
    assert got == expected


def test_values_delivered_while_the_loop_is_busy_arrive_in_one_delivery() -> None:
    values = 200

    async def scenario() -> tuple[list[int], int, int]:
        inbox = CountingInbox(asyncio.get_running_loop())
        pairs = [expect(inbox) for _ in range(values)]
        producer = threading.Thread(
            target=lambda: [deliver(n) for n, (_, deliver) in enumerate(pairs)])
        producer.start()
        producer.join(10)  # blocks the loop: every value arrives while it cannot run
        before = inbox.deliveries
        got = await asyncio.wait_for(asyncio.gather(*(waiter for waiter, _ in pairs)), 10)
        return list(got), before, inbox.deliveries

    got, before, deliveries = _run(scenario())
    assert got == list(range(values))
    assert before == 0
    assert deliveries == 1


def test_a_value_after_a_delivery_schedules_the_next_one() -> None:
    async def scenario() -> tuple[list[str], int]:
        inbox = CountingInbox(asyncio.get_running_loop())
        first, deliver_first = expect(inbox)
        second, deliver_second = expect(inbox)
        threading.Thread(target=deliver_first, args=("a",)).start()
        a = await asyncio.wait_for(first, 5)
        threading.Thread(target=deliver_second, args=("b",)).start()
        b = await asyncio.wait_for(second, 5)
        return [a, b], inbox.deliveries

    got, deliveries = _run(scenario())
    assert got == ["a", "b"]
    assert deliveries == 2


def test_delivering_from_the_loop_thread_itself_works() -> None:
    async def scenario() -> str:
        inbox = LoopInbox(asyncio.get_running_loop())
        waiter, deliver = expect(inbox)
        deliver("same thread")
        result: str = await asyncio.wait_for(waiter, 5)
        return result

    assert _run(scenario()) == "same thread"


@pytest.mark.parametrize("how", ["cancelled", "already-set"], ids=["cancelled", "already-set"])
def test_a_waiter_that_is_already_done_is_skipped_and_the_others_still_get_theirs(
        how: str) -> None:
    async def scenario() -> tuple[asyncio.Future[str], str, int]:
        inbox = CountingInbox(asyncio.get_running_loop())
        gone, deliver_gone = expect(inbox)
        kept, deliver_kept = expect(inbox)
        if how == "cancelled":
            gone.cancel()
        else:
            gone.set_result("first answer")

        def produce() -> None:
            deliver_gone("late")
            deliver_kept("kept")

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(5)  # both values in one batch
        got = await asyncio.wait_for(kept, 5)
        await asyncio.sleep(0)
        return gone, got, inbox.deliveries

    gone, got, deliveries = _run(scenario())
    assert got == "kept" and deliveries == 1
    if how == "cancelled":
        assert gone.cancelled()
    else:
        assert gone.result() == "first answer"


def test_delivering_to_a_closed_loop_does_nothing_and_raises_nothing() -> None:
    loop = asyncio.new_event_loop()
    inbox = CountingInbox(loop)
    first, deliver_first = expect(inbox)
    second, deliver_second = expect(inbox)
    loop.close()
    raised: list[BaseException] = []

    def produce() -> None:
        try:
            deliver_first(1)
            deliver_second(2)  # the failed delivery left nothing behind: this tries again
        except BaseException as exc:  # the test reports whatever escaped
            raised.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(5)
    deliver_first(3)  # from the thread that owned the loop, too
    assert raised == []
    assert not first.done() and not second.done()
    assert inbox.deliveries == 0
