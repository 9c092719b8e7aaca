"""acphost's one I/O loop: a daemon thread running asyncio behind an anyio ``BlockingPortal``.

Every agent's subprocess I/O runs here, for every conversation of the process, so agent I/O
never runs on (or blocks) the threads and loops that drive conversations. The thread is a
daemon so it never keeps a finished program alive; at exit, agents get a short, bounded
shutdown and the reaper kills whatever is left.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["IOLoop"]

T = TypeVar("T")


class IOLoop:
    """The shared background loop. Get it with :meth:`get`."""

    _instance: IOLoop | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._closers: set[Callable[[], Awaitable[None]]] = set()
        self._tasks: set[asyncio.Task[object]] = set()

        async def main() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                self.loop = asyncio.get_running_loop()
                ready.set()
                await portal.sleep_until_stopped()

        self.thread = threading.Thread(
            target=anyio.run, args=(main,), name="acphost-io", daemon=True
        )
        self.thread.start()
        ready.wait()

    @classmethod
    def get(cls) -> IOLoop:
        instance = cls._instance
        if instance is None:
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = cls()
                    atexit.register(cls._instance._shutdown)
                instance = cls._instance
        return instance

    @property
    def portal(self) -> BlockingPortal:
        assert self._portal is not None
        return self._portal

    def in_loop(self) -> bool:
        """Whether the caller is running on this loop's thread."""
        return threading.current_thread() is self.thread

    def submit(
        self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any
    ) -> concurrent.futures.Future[T]:
        """Run ``func(*args)`` on the I/O loop; returns at once (no cross-thread round trip,
        unlike the portal's ``start_task_soon``); cancelling the future cancels the task."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(func(*args), self.loop)

    def start(self, func: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> None:
        """Start ``func(*args)`` as a task on the I/O loop, from any thread, and forget it.

        For a coroutine that reports its own outcome (a turn posts ``TurnDone``): no
        ``concurrent.futures.Future`` to build and chain, which :meth:`submit` needs.
        """
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._spawn, func, args)

    def _spawn(
        self, func: Callable[..., Coroutine[Any, Any, object]], args: tuple[Any, ...]
    ) -> None:
        assert self.loop is not None
        task = self.loop.create_task(func(*args))
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # reported by the coroutine itself: not "never retrieved"

    def call_soon(self, func: Callable[..., object], *args: Any) -> None:
        """Schedule a plain callable on the I/O loop, from any thread."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(func, *args)

    def defer(self, delay: float, func: Callable[[], object]) -> bool:
        """On the loop's thread, run ``func`` after ``delay`` seconds; ``False`` elsewhere."""
        if threading.current_thread() is not self.thread:
            return False
        assert self.loop is not None
        self.loop.call_later(delay, func)
        return True

    def add_closer(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Register something to shut down (bounded) when the program exits."""
        self._closers.add(closer)

    def discard_closer(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.discard(closer)

    def _shutdown(self) -> None:
        closers = list(self._closers)
        if not closers or not self.thread.is_alive():
            return

        async def close_one(closer: Callable[[], Awaitable[None]]) -> None:
            await closer()

        async def close_all() -> None:
            with anyio.move_on_after(5):
                async with anyio.create_task_group() as group:
                    for closer in closers:
                        group.start_soon(close_one, closer)

        try:
            self.portal.call(close_all)
        except Exception:  # pragma: no cover - best effort at exit; the reaper does the rest
            return
