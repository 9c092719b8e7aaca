"""A watchdog process that kills our agents' process groups when the host dies.

Agents run in their own sessions (so a Ctrl-C meant for the host does not hit them mid-turn),
which means nothing kills them if the host is SIGKILLed. The watchdog holds the read end of a
pipe from the host; when that pipe closes, however the host ended, it terminates every group
still registered, then kills what is left.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["forget_group", "watch_group"]

_WATCHDOG = r"""
import os, signal, sys, time
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
def send(sig):
    alive = set()
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
            alive.add(pgid)
        except OSError:
            pass
    return alive
if send(signal.SIGTERM):
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and send(0):
        time.sleep(0.05)
    send(signal.SIGKILL)
"""

_lock = threading.Lock()
_pipe: int | None = None  # write end of the pipe to the watchdog


def _start_watchdog() -> int:
    # posix_spawn rather than Popen: the watchdog must outlive every Popen object, and with
    # stdout/stderr on /dev/null it never holds a pipe that someone reads to EOF.
    read_end, write_end = os.pipe()
    os.posix_spawn(
        sys.executable,
        [sys.executable, "-I", "-S", "-c", _WATCHDOG],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, read_end, 0),
            (os.POSIX_SPAWN_CLOSE, read_end),
            (os.POSIX_SPAWN_CLOSE, write_end),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ],
        setsid=True,
    )
    os.close(read_end)
    return write_end


def _send(line: str) -> None:
    global _pipe
    with _lock:
        for _attempt in range(2):
            if _pipe is None:
                _pipe = _start_watchdog()
            try:
                os.write(_pipe, line.encode() + b"\n")
                return
            except OSError:  # the watchdog died: start another
                os.close(_pipe)
                _pipe = None


def watch_group(pgid: int) -> None:
    """Kill process group ``pgid`` if this process dies before :func:`forget_group`."""
    _send(f"+{pgid}")


def forget_group(pgid: int) -> None:
    _send(f"-{pgid}")


def _after_fork_in_child() -> None:
    # A forked child must not share (and later close) our pipe to the watchdog.
    global _pipe
    if _pipe is not None:
        os.close(_pipe)
        _pipe = None


os.register_at_fork(after_in_child=_after_fork_in_child)
