"""Helpers for the CLI tests: run ``python -m acphost.cli`` as a user would, read its output
with deadlines, and give each test a private default store."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CLI",
    "TIMEOUT",
    "Output",
    "acphost",
    "chat_args",
    "clean_env",
    "conversation_id",
    "running",
    "start",
]

TIMEOUT = 60.0
CLI = [sys.executable, "-m", "acphost.cli"]


def acphost(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def conversation_id(stdout: str) -> str:
    line = next(x for x in stdout.splitlines() if x.strip().startswith("conversation:"))
    return line.split(":", 1)[1].strip()


class Output:
    """Reads a child's pipe without blocking past a deadline (for Ctrl-C and prompts)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def wait_for(self, marker: str, timeout: float = TIMEOUT, *, count: int = 1) -> str:
        """Everything read so far, once ``marker`` came (``count`` times)."""
        deadline = time.monotonic() + timeout
        while self.data.count(marker.encode()) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{marker!r} never came; got {self.data.decode(errors='replace')!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"EOF before {marker!r}: {self.data.decode(errors='replace')!r}"
                self.data += chunk
        return self.data.decode()


def clean_env(tmp_path: Path) -> dict[str, str]:
    """A private default store, and no forced colours or width from the caller's shell."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS", "TTY_COMPATIBLE")
    }
    environ["ACPHOST_HOME"] = str(tmp_path / "home")
    return environ


def start(args: list[str], env: dict[str, str], stdin: int) -> subprocess.Popen[bytes]:
    """The CLI as a running process, its output pipes to be read with :class:`Output`."""
    return subprocess.Popen(
        [*CLI, *args], env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@contextmanager
def running(
    args: list[str], env: dict[str, str], stdin: int
) -> Iterator[tuple[subprocess.Popen[bytes], Output]]:
    """The CLI started as :func:`start` does, its stdout read by an :class:`Output`; killed on
    leaving (a test that passes has seen it end)."""
    proc = start(args, env, stdin)
    assert proc.stdout is not None
    try:
        yield proc, Output(proc.stdout.fileno())
    finally:
        proc.kill()
        proc.wait()


def chat_args(command: str, cwd: Path, store: str) -> list[str]:
    """``acphost chat`` with any agent's command line, in ``cwd``, on the store at ``store``."""
    return ["chat", "--command", command, "--cwd", str(cwd), "--store", store]
