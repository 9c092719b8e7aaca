"""The mailbox wakes the driver at once for what it must act on, and within a short window for
what it only records, so that a burst of agent output is one wake-up and one transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from acphost.conversation import _mailbox
from acphost.conversation._loop import IOLoop
from acphost.conversation._mailbox import COALESCE_S, Mailbox


class Timers:
    """A ``defer`` that keeps the timers instead of running them: the test fires them."""

    def __init__(self, *, here: bool = True) -> None:
        self.here = here
        self.pending: list[Callable[[], object]] = []

    def __call__(self, delay: float, func: Callable[[], object]) -> bool:
        assert delay == COALESCE_S
        if self.here:
            self.pending.append(func)
        return self.here


async def waiting(mailbox: Mailbox) -> asyncio.Task[bool]:
    task = asyncio.create_task(mailbox.wait_async(5))
    await asyncio.sleep(0)  # the driver is asleep in the mailbox now
    return task


async def still_asleep(task: asyncio.Task[bool]) -> bool:
    await asyncio.sleep(0.05)
    return not task.done()


def test_output_wakes_the_driver_when_its_timer_fires_once_per_burst() -> None:
    async def main() -> None:
        timers = Timers()
        mailbox = Mailbox(timers)
        task = await waiting(mailbox)
        mailbox.put_soon("a")
        mailbox.put_soon("b")
        assert len(timers.pending) == 1  # one timer for the burst
        assert await still_asleep(task)
        timers.pending[0]()
        assert await asyncio.wait_for(task, 5)
        assert mailbox.drain() == ["a", "b"]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_what_the_driver_must_act_on_wakes_it_at_once_and_the_timer_then_does_nothing() -> None:
    async def main() -> None:
        timers = Timers()
        mailbox = Mailbox(timers)
        task = await waiting(mailbox)
        mailbox.put_soon("update")
        mailbox.put("turn done")  # does not wait for the output's timer
        assert await asyncio.wait_for(task, 5)
        assert mailbox.drain() == ["update", "turn done"]
        task = await waiting(mailbox)
        timers.pending.pop()()  # the burst's timer, late: the driver sleeps on
        assert await still_asleep(task)
        mailbox.put_soon("next")
        assert len(timers.pending) == 1
        timers.pending.pop()()
        assert await asyncio.wait_for(task, 5)

    asyncio.run(asyncio.wait_for(main(), 10))


def test_output_from_a_thread_without_a_timer_wakes_the_driver_at_once() -> None:
    async def main() -> None:
        mailbox = Mailbox(Timers(here=False))
        task = await waiting(mailbox)
        mailbox.put_soon("from a worker thread")
        assert await asyncio.wait_for(task, 5)

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_io_loop_defers_on_its_own_thread_only() -> None:
    io = IOLoop.get()
    fired = threading.Event()
    assert not io.defer(0.0, fired.set)  # not on the loop: the caller wakes the driver itself
    scheduled: list[bool] = []
    io.call_soon(lambda: scheduled.append(io.defer(0.001, fired.set)))
    assert fired.wait(10)
    assert scheduled == [True]


def test_a_driver_thread_gets_a_burst_put_on_the_io_loop() -> None:
    io = IOLoop.get()
    mailbox = Mailbox(io.defer)
    woke = threading.Event()

    def driver() -> None:
        if mailbox.wait_sync(10):
            woke.set()

    thread = threading.Thread(target=driver)
    thread.start()
    while mailbox._waker is None:  # the driver is asleep in the mailbox
        threading.Event().wait(0.001)

    def burst() -> None:
        for n in range(3):
            mailbox.put_soon(n)

    io.call_soon(burst)
    assert woke.wait(10)
    thread.join(10)
    assert mailbox.drain() == [0, 1, 2]


def test_a_busy_driver_leaves_records_until_the_window_after_its_last_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_mailbox, "COALESCE_S", 30.0)
    mailbox = Mailbox()
    mailbox.put_soon("a")
    assert mailbox.ready()  # nothing drained before: no wait
    assert mailbox.drain() == ["a"]
    mailbox.put_soon("b")
    assert not mailbox.ready()  # drained just now: records wait for the window

    woke = threading.Event()

    def driver() -> None:
        if mailbox.wait_sync(None):
            woke.set()

    thread = threading.Thread(target=driver)
    thread.start()
    while mailbox._waker is None:
        threading.Event().wait(0.001)
    mailbox.put_soon("c")
    assert not woke.wait(0.05)
    mailbox.put("turn done")  # what the driver must act on wakes it at once
    assert woke.wait(5)
    thread.join(5)
    assert mailbox.drain() == ["b", "c", "turn done"]

    for item in ("x", "y", "z"):
        mailbox.put_soon(item)
    assert not mailbox.ready()
    assert mailbox.drain(1) == ["x"]
    assert mailbox.ready()  # a slice left a backlog: the next drain needs no wait


def test_an_async_driver_holds_records_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_mailbox, "COALESCE_S", 30.0)

    async def main() -> None:
        mailbox = Mailbox()
        mailbox.put_soon("a")
        mailbox.drain()
        mailbox.put_soon("b")
        task = asyncio.create_task(mailbox.wait_async(None))
        assert await still_asleep(task)
        mailbox.put("question")
        assert await asyncio.wait_for(task, 5)

    asyncio.run(asyncio.wait_for(main(), 10))
