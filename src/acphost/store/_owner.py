"""Who drives a conversation's turn: the process that started it, told apart from a dead one.

A process killed mid-turn (SIGKILL, a double Ctrl-C, SIGPIPE) leaves its conversation's log
ending in ``running``. The turn's driver writes an :class:`Owner` before its first turn, so a
reader can tell a turn that is running from one whose driver is gone: a process on this machine
that no longer exists, or whose pid now belongs to another process (the start time differs).
Another machine's process cannot be checked from here: its turn reads as running.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass

__all__ = ["Owner"]


@dataclass(frozen=True, slots=True)
class Owner:
    """The process driving a conversation's turns: its host, pid and start time."""

    host: str
    pid: int
    started: str | None  # boot id and start time on Linux; None where unknown

    @classmethod
    def current(cls) -> Owner:
        """This process (a forked child is another owner: its pid differs)."""
        pid = os.getpid()
        return cls(_host(), pid, _started(pid))

    def gone(self) -> bool:
        """Whether this owner is known to have exited (on another host: never known)."""
        if self.pid <= 0:  # a turn an acphost older than owners left running (_schema.py, v4)
            return True
        if self.host != _host():
            return False
        started = _started(self.pid)
        if started is None:
            return not _exists(self.pid)
        return self.started is not None and started != self.started


@functools.cache
def _host() -> str:
    return socket.gethostname()


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _started(pid: int) -> str | None:
    """The process's start time since boot (Linux), ``None`` if unknown or not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # a zombie has exited; only its exit status is left
        return "exited"
    return f"{_boot_id()}:{fields[19]}"


def _exists(pid: int) -> bool:
    if os.path.isdir("/proc/self"):  # Linux: _started found no /proc/<pid>
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True
