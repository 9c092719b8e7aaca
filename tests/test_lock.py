"""FIFOLock: re-entrancy, ownership, strict arrival-order fairness, timeouts, stress."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from acphost.conversation._lock import FIFOLock

JOIN = 10.0  # seconds; every join is bounded so a bug fails the test instead of hanging it


def _wait_until(predicate: Callable[[], bool], timeout: float = JOIN) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.0005)


def _start(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(JOIN)
        assert not thread.is_alive(), "thread did not finish in time"


def test_reentrant_and_state() -> None:
    lock = FIFOLock()
    assert not lock.locked()
    assert not lock.owned()
    with lock:
        assert lock.acquire()
        assert lock.acquire(blocking=False)
        assert lock.owned()
        lock.release()
        lock.release()
        assert lock.locked()
        assert lock.owned()
    assert not lock.locked()
    assert not lock.owned()


def test_held_lock_is_not_owned_by_other_thread() -> None:
    lock = FIFOLock()
    seen: list[tuple[bool, bool, bool]] = []
    with lock:
        _join(_start(lambda: seen.append((lock.locked(), lock.owned(), lock.acquire(False)))))
    assert seen == [(True, False, False)]


def test_release_not_owned_raises() -> None:
    lock = FIFOLock()
    with pytest.raises(RuntimeError):
        lock.release()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)

    with lock:
        _join(_start(other))
        assert lock.owned()  # the failed release changed nothing
    assert len(errors) == 1
    assert not lock.locked()


def test_fifo_order() -> None:
    lock = FIFOLock()
    order: list[int] = []
    threads: list[threading.Thread] = []

    def waiter(index: int) -> None:
        with lock:
            order.append(index)

    lock.acquire()
    for index in range(8):
        threads.append(_start(lambda index=index: waiter(index)))  # type: ignore[misc]
        _wait_until(lambda index=index: lock.waiting() == index + 1)  # type: ignore[misc]
    lock.release()
    _join(*threads)
    assert order == list(range(8))
    assert not lock.locked()


def test_releasing_thread_cannot_barge_ahead_of_waiter() -> None:
    """The starvation case: a holder that re-takes the lock right away queues behind a waiter."""
    lock = FIFOLock()
    order: list[str] = []

    def interrupter() -> None:
        with lock:
            order.append("interrupt")

    lock.acquire()
    thread = _start(interrupter)
    _wait_until(lambda: lock.waiting() == 1)
    lock.release()
    with lock:
        order.append("stream")
    _join(thread)
    assert order == ["interrupt", "stream"]


def test_timeout_and_non_blocking() -> None:
    lock = FIFOLock()
    results: list[tuple[bool, float]] = []
    holder_in = threading.Event()
    holder_out = threading.Event()

    def holder() -> None:
        with lock:
            holder_in.set()
            holder_out.wait(JOIN)

    thread = _start(holder)
    assert holder_in.wait(JOIN)
    start = time.monotonic()
    results.append((lock.acquire(timeout=0.05), time.monotonic() - start))
    results.append((lock.acquire(blocking=False), 0.0))
    results.append((lock.acquire(timeout=0), 0.0))
    assert lock.waiting() == 0  # timed-out waiters left the queue
    holder_out.set()
    _join(thread)
    assert [ok for ok, _ in results] == [False, False, False]
    assert results[0][1] >= 0.04
    assert lock.acquire(timeout=0.05)
    lock.release()
    assert not lock.locked()


def test_invalid_arguments() -> None:
    lock = FIFOLock()
    with pytest.raises(ValueError, match="non-blocking"):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        lock.acquire(timeout=-2)
    assert not lock.locked()


def test_condition_wait_releases_all_levels() -> None:
    lock = FIFOLock()
    cond = threading.Condition(lock)  # type: ignore[arg-type]
    ready: list[bool] = []

    def notifier() -> None:
        with cond:
            ready.append(True)
            cond.notify()

    with lock, lock, cond:  # three levels: wait() must drop them all or notifier deadlocks
        thread = _start(notifier)
        assert cond.wait_for(lambda: bool(ready), timeout=JOIN)
        assert lock.owned()
        lock.release()
        lock.release()
        assert lock.owned()  # the depth was restored: one level left for `with cond`
        lock.acquire()
        lock.acquire()
    assert not lock.locked()
    _join(thread)


def test_stress_counter_with_timeouts() -> None:
    lock = FIFOLock()
    counter = 0
    timeouts = 0
    per_thread = 2000
    n_threads = 16
    start = threading.Barrier(n_threads, timeout=JOIN)

    def worker(use_timeout: bool) -> None:
        nonlocal counter, timeouts
        start.wait()
        done = 0
        while done < per_thread:
            if not lock.acquire(timeout=0.0005 if use_timeout else -1):
                with lock:
                    timeouts += 1
                continue
            try:
                with lock:  # re-entrant level under contention
                    value = counter
                    counter = value + 1
                done += 1
            finally:
                lock.release()

    threads = [_start(lambda i=i: worker(i % 2 == 0)) for i in range(n_threads)]  # type: ignore[misc]
    _join(*threads)
    assert counter == per_thread * n_threads
    assert not lock.locked()
    assert lock.waiting() == 0


class _Interrupted(Exception):
    pass


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_interrupted_waiter_leaves_the_queue() -> None:
    """A signal (Ctrl-C) while queued must not leave a dead waiter that would get the lock."""
    lock = FIFOLock()

    def handler(signum: int, frame: object) -> None:
        raise _Interrupted

    def holder_then_signal() -> None:
        _wait_until(lambda: lock.waiting() == 1)
        signal.pthread_kill(main, signal.SIGUSR1)

    main = threading.get_ident()
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        done = threading.Event()

        def holder() -> None:
            with lock:
                holder_then_signal()
                done.wait(JOIN)

        thread = _start(holder)
        _wait_until(lock.locked)
        with pytest.raises(_Interrupted):
            lock.acquire(timeout=JOIN)
        assert lock.waiting() == 0
        done.set()
        _join(thread)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert not lock.locked()
    assert lock.acquire(blocking=False)
    lock.release()
