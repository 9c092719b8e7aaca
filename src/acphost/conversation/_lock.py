"""A fair, re-entrant lock for threads.

:class:`threading.RLock` is unfair: a thread that releases and immediately re-acquires usually
wins again, because the waiters it woke still have to be scheduled. A conversation's event loop
takes its lock once per event, so with an unfair lock a busy stream can starve a thread waiting
to ``interrupt()`` the turn or to read a consistent snapshot for as long as the agent keeps
talking. :class:`FIFOLock` hands the lock directly to the longest waiter on release, so nobody
waits behind more than the holders that arrived before it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["FIFOLock"]

_get_ident = threading.get_ident
_allocate_lock = threading.Lock


class _Waiter:
    """One queued thread: its ident and a lock it blocks on until ownership is handed over."""

    __slots__ = ("gate", "ident")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.gate = _allocate_lock()
        self.gate.acquire()


class FIFOLock:
    """A re-entrant lock whose waiters acquire strictly in arrival order.

    Ownership is handed over on release (no barging): when threads are waiting, ``release()``
    makes the first of them the owner before waking it, so a releasing thread that tries again
    queues behind them. The uncontended path allocates nothing: a waiter's gate (a plain
    ``threading.Lock``, cheaper than an ``Event``) is created only when the lock is taken.

    Usable as the lock of a :class:`threading.Condition` (it implements the private
    ``_is_owned``/``_release_save``/``_acquire_restore`` protocol, so ``wait()`` fully releases
    a re-entrant hold and restores its depth).
    """

    __slots__ = ("_count", "_mutex", "_owner", "_waiters")

    def __init__(self) -> None:
        self._mutex = _allocate_lock()  # guards _owner handover and _waiters
        self._owner: int | None = None
        self._count = 0
        self._waiters: deque[_Waiter] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (again, if this thread owns it); ``False`` if not taken in time."""
        me = _get_ident()
        # Only this thread can make _owner equal to its own ident (or hand it to us while we
        # are blocked below), so the unlocked read is safe.
        if self._owner == me:
            self._count += 1
            return True
        if not blocking:
            if timeout != -1:
                raise ValueError("can't specify a timeout for a non-blocking call")
        elif timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number or -1")
        waiter = None
        try:  # zero-cost in 3.11; covers the queueing so an interrupt can't strand a waiter
            with self._mutex:
                if self._owner is None:  # invariant: waiters imply an owner, so none queued
                    self._owner = me
                    self._count = 1
                    return True
                if not blocking:
                    return False
                waiter = _Waiter(me)
                self._waiters.append(waiter)
            if waiter.gate.acquire(True, timeout):
                return True  # release() made us the owner before opening the gate
        except BaseException:  # e.g. KeyboardInterrupt: never leave a dead waiter queued
            if waiter is not None and self._leave(waiter):
                self.release()
            raise
        return self._leave(waiter)

    def _leave(self, waiter: _Waiter) -> bool:
        """Dequeue a waiter that stopped waiting; ``True`` if it was handed the lock first."""
        with self._mutex:
            if self._owner == waiter.ident:
                return True
            if waiter in self._waiters:  # not yet there if interrupted right before append
                self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        """Release one level; the last one hands the lock to the oldest waiter, if any."""
        if self._owner != _get_ident():
            raise RuntimeError("cannot release a FIFOLock not owned by this thread")
        self._count -= 1
        if self._count:
            return
        with self._mutex:
            if self._waiters:
                waiter = self._waiters.popleft()
                self._owner = waiter.ident
                self._count = 1
                waiter.gate.release()
            else:
                self._owner = None

    def locked(self) -> bool:
        """Whether any thread holds the lock."""
        return self._owner is not None

    def owned(self) -> bool:
        """Whether the current thread holds the lock."""
        return self._owner == _get_ident()

    def waiting(self) -> int:
        """How many threads are queued for the lock (for diagnostics and tests)."""
        return len(self._waiters)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} owner={self._owner} count={self._count} "
            f"waiting={len(self._waiters)}>"
        )

    # threading.Condition protocol: wait() must drop every level of a re-entrant hold.

    def _is_owned(self) -> bool:
        return self.owned()

    def _release_save(self) -> tuple[int, int]:
        if self._owner != _get_ident():
            raise RuntimeError("cannot wait on a FIFOLock not owned by this thread")
        state = (self._count, _get_ident())
        self._count = 1
        self.release()
        return state

    def _acquire_restore(self, state: Any) -> None:
        count, _owner = state
        self.acquire()
        self._count = count
