"""The chat's one reader of stdin, for the whole chat, so that a line typed while a turn runs
is heard then and not only once the turn ends.

:class:`ChatInput` owns two daemon threads, stopped by :meth:`ChatInput.close`. The *reader*
reads lines and gives each to the permission question on screen, if there is one
(:meth:`ChatInput.ask`, called on the driver's thread); every other line goes, in order, to the
*dispatcher*, which hands it to the running turn's handler (:meth:`ChatInput.busy`) or, between
turns, to the main thread (:meth:`ChatInput.next`). The dispatcher is a thread of its own so
that a handler waiting for the conversation's lock (which the driver holds while it asks a
permission question) never keeps that question from its answer.
"""

from __future__ import annotations

import codecs
import os
import queue
import select
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["ChatInput", "Handler"]

_T = TypeVar("_T")

WAKE_S = 0.25
"""How often a wait on the main thread wakes, so that Python runs a pending Ctrl-C handler."""

Handler = Callable[[str | None], bool]
"""What a running turn does with a line (``None``: input ended); ``False`` leaves the line to
the main thread, for after the turn (and every later line with it, to keep their order)."""


class ChatInput:
    """Lines from a file descriptor (stdin), routed to a question, the turn, or the main thread."""

    def __init__(self, fd: int, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._wake_r, self._wake_w = os.pipe()
        self._asked = threading.Lock()
        self._answer: queue.Queue[str | None] | None = None  # the question on screen
        self._ended = False
        self._inbox: queue.Queue[str | None] = queue.Queue()  # lines no question took
        self._routing = threading.Lock()
        self._handler: Handler | None = None
        self._main: queue.Queue[str | Exception | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read, name="acphost-chat-stdin", daemon=True),
            threading.Thread(target=self._dispatch, name="acphost-chat-lines", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- the main thread ------------------------------------------------------------------

    def next(self) -> str | None:
        """The next line for between turns (``None``: input ended); Ctrl-C still interrupts."""
        item = _wait(self._main)
        if isinstance(item, Exception):  # a handler failed: a bug, shown rather than hung
            raise item
        return item

    def busy(self, handler: Handler) -> None:
        """A turn runs: lines go to ``handler`` (on the dispatcher) until :meth:`idle`."""
        with self._routing:
            self._handler = handler

    def idle(self, unless: Callable[[], bool] = lambda: False) -> bool:
        """Lines go to the main thread again, unless ``unless()`` (asked while no line is being
        handled, so nothing slips between the two) says a turn is still to run."""
        with self._routing:
            if unless():
                return False
            self._handler = None
            return True

    def ask(self, show: Callable[[], None]) -> str:
        """Show a question (``show``) and wait for the next line as its answer, on the calling
        thread (the driver's); ``EOFError`` once input ended, ``KeyboardInterrupt`` on Ctrl-C."""
        answer: queue.Queue[str | None] = queue.Queue()
        with self._asked:
            if self._ended:
                raise EOFError
            self._answer = answer
        try:
            show()
            line = _wait(answer)
        finally:
            with self._asked:
                if self._answer is answer:
                    self._answer = None
        if line is None:
            raise EOFError
        return line

    def close(self) -> None:
        """Stop both threads (a line typed from now on is not read). The dispatcher ends
        after the line it handles, if any (a steer waits for the agent's answer)."""
        self._handler = None  # no lock: a handler under way may hold it a while
        os.write(self._wake_w, b"x")
        reader, dispatcher = self._threads
        reader.join()  # at once: it waits on the wake-up pipe too
        dispatcher.join(timeout=1.0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # --- the threads ----------------------------------------------------------------------

    def _read(self) -> None:
        try:
            for line in self._lines():
                with self._asked:
                    answer, self._answer = self._answer, None
                (self._inbox if answer is None else answer).put(line)
        finally:
            with self._asked:
                self._ended = True
                answer, self._answer = self._answer, None
            if answer is not None:
                answer.put(None)
            self._inbox.put(None)

    def _lines(self) -> Iterator[str]:
        partial = ""
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._fd, 65536)
            except OSError:  # a terminal that went away
                data = b""
            partial += self._decoder.decode(data, final=not data)
            *lines, partial = partial.split("\n")
            for line in lines:
                yield line.removesuffix("\r")
            if not data:
                if partial:
                    yield partial
                return

    def _dispatch(self) -> None:
        while True:
            line = self._inbox.get()
            with self._routing:
                handler = self._handler if self._main.empty() else None  # keep the order
                try:
                    handled = handler is not None and handler(line)
                except Exception as exc:
                    self._main.put(exc)
                    return
                if not handled:
                    self._main.put(line)
            if line is None:
                return


def _wait(items: queue.Queue[_T]) -> _T:
    """The next item, waking now and then: Python runs signal handlers on the main thread only
    between bytecodes, so a Ctrl-C must not wait for the next line."""
    while True:
        try:
            return items.get(timeout=WAKE_S)
        except queue.Empty:
            continue
