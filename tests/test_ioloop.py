"""The shared I/O loop's fire-and-forget tasks."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from acphost.conversation._loop import IOLoop


def test_a_started_task_runs_on_the_loop_thread_and_is_then_forgotten() -> None:
    io = IOLoop.get()
    ran_on: list[bool] = []
    done = threading.Event()

    async def job(value: int) -> None:
        await asyncio.sleep(0)
        ran_on.append(io.in_loop() and value == 7)
        done.set()

    io.start(job, 7)
    assert done.wait(5)
    io.portal.call(asyncio.sleep, 0.01)
    assert ran_on == [True]
    assert not io._tasks


def test_a_failed_started_task_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    io = IOLoop.get()
    ran = threading.Event()

    async def job() -> None:
        ran.set()
        raise RuntimeError("reported by the coroutine itself")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        io.start(job)
        assert ran.wait(5)
        io.portal.call(asyncio.sleep, 0.05)  # the task has finished and been forgotten
        gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert not io._tasks
