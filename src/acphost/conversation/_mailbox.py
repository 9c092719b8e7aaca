"""The mailbox: a thread-safe FIFO from the I/O loop to whoever drives the conversation.

Agents put what they hear here and nothing else: they never call user code. The driver (a
thread in ``run()`` or a task in ``arun()``) is woken only when the mailbox goes from empty to
non-empty, then drains everything at once, so a storm of updates costs one wake-up per batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Mailbox"]


class Mailbox:
    __slots__ = ("_items", "_lock", "_signalled", "_waker")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._waker: Callable[[], object] | None = None
        self._signalled = False

    def put(self, item: Any) -> None:
        """Add an item from any thread; wakes the driver if it may be asleep."""
        with self._lock:
            self._items.append(item)
            waker = self._waker
            if self._signalled or waker is None:
                return
            self._signalled = True
        waker()

    def drain(self, limit: int | None = None) -> list[Any]:
        """Everything waiting (or the oldest ``limit`` items)."""
        with self._lock:
            queued = self._items
            if limit is None or len(queued) <= limit:
                items = list(queued)
                queued.clear()
            else:
                items = [queued.popleft() for _ in range(limit)]
            self._signalled = False
        return items

    def __len__(self) -> int:
        return len(self._items)

    def wait_sync(self, timeout: float | None) -> bool:
        """Block the calling thread until an item is there (or ``timeout``)."""
        event = threading.Event()
        with self._lock:
            if self._items:
                return True
            self._waker = event.set
            self._signalled = False
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                self._waker = None

    async def wait_async(self, timeout: float | None) -> bool:
        """Wait on the running loop until an item is there (or ``timeout``)."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._lock:
            if self._items:
                return True
            self._waker = lambda: loop.call_soon_threadsafe(event.set)
            self._signalled = False
        try:
            if timeout is None:
                await event.wait()
                return True
            try:
                async with asyncio.timeout(timeout):
                    await event.wait()
            except TimeoutError:
                return bool(self._items)
            return True
        finally:
            with self._lock:
                self._waker = None
