"""``async def`` callbacks for ``permission=`` and ``elicitation=``.

Under :meth:`~acphost.Conversation.arun` the driver is a task on the caller's loop, so an async
callback runs there as a task of its own and answers like a person would (``answer_permission``):
the turn goes on meanwhile (its stream is recorded), a cancel or a timeout can still win, and a
callback still running when its request is settled otherwise is cancelled. Anywhere else (in
:meth:`~acphost.Conversation.run`, an idle delivery) it runs to completion on a loop of its own
in a worker thread, holding the driver as a sync callback does: that thread may already run a
loop (a notebook), where ``asyncio.run`` would refuse.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["is_async", "run_to_completion", "start_on"]

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()  # the loop holds tasks weakly


def is_async(func: object) -> bool:
    """Whether calling ``func`` makes a coroutine (an ``async def`` function, method or
    ``__call__``): decided before calling it, so a sync callback still runs claimed."""
    call = type(func).__call__ if callable(func) else None  # a callable object's method
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on a loop of its own in a worker thread, blocking this one."""

    async def wait() -> T:
        return await awaitable

    with concurrent.futures.ThreadPoolExecutor(1, "acphost-callback") as worker:
        return worker.submit(asyncio.run, wait()).result()


def start_on(
    loop: asyncio.AbstractEventLoop,
    coroutine: Coroutine[Any, Any, T],
    request: concurrent.futures.Future[Any],
    finish: Callable[[asyncio.Task[T]], None],
) -> None:
    """Run ``coroutine`` as a task on ``loop`` (this thread's), then ``finish(task)`` unless
    it was cancelled; ``request`` settled first (a cancel, a timeout) cancels it."""
    task = loop.create_task(coroutine, name="acphost-callback")
    _running.add(task)

    def done(task: asyncio.Task[T]) -> None:
        _running.discard(task)
        if not task.cancelled():
            finish(task)

    def settled(_: concurrent.futures.Future[Any]) -> None:
        if not task.done():  # settled elsewhere, from any thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the task is gone
                loop.call_soon_threadsafe(task.cancel)

    task.add_done_callback(done)
    request.add_done_callback(settled)
