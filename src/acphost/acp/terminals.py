"""Real processes behind ACP's ``terminal/*`` client methods.

Each terminal is a process in its own process group (so a kill reaches everything it spawned)
whose merged stdout and stderr are read by the event loop as they come, so a chatty command never
blocks on a full pipe. Output is read through a :class:`asyncio.SubprocessProtocol` rather than
``Process.wait()``: on Python 3.11 ``wait()`` does not return while a background grandchild still
holds the pipe, and agents often start servers with ``cmd &``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acphost.acp.fs import Workspace
from acphost.acp.process import read_pipes_directly
from acphost.errors import AcphostError, TerminalNotFound

__all__ = ["DRAIN_GRACE", "ExitStatus", "TerminalManager", "TerminalOutput"]

DRAIN_GRACE = 1.0
"""Seconds to wait, after the process exited, for the end of its output. Normally the output ends
at once; when a background grandchild keeps the pipe open, the exit is reported after this grace
instead of never (the output keeps being collected)."""


@dataclass(frozen=True)
class ExitStatus:
    """How a terminal's process ended: an exit code, or the name of the signal that killed it."""

    exit_code: int | None
    signal: str | None

    def to_acp(self) -> dict[str, Any]:
        """The ACP ``TerminalExitStatus`` object."""
        return {"exitCode": self.exit_code, "signal": self.signal}

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitStatus:
        """Convert a ``subprocess`` return code (negative for a signal)."""
        if returncode >= 0:
            return cls(exit_code=returncode, signal=None)
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return cls(exit_code=None, signal=name)


@dataclass(frozen=True)
class TerminalOutput:
    """What ``terminal/output`` answers: the retained output and, once ended, the exit status."""

    output: str
    truncated: bool
    exit_status: ExitStatus | None

    def to_acp(self) -> dict[str, Any]:
        """The ACP ``TerminalOutputResponse`` object (``exitStatus`` omitted while running)."""
        result: dict[str, Any] = {"output": self.output, "truncated": self.truncated}
        if self.exit_status is not None:
            result["exitStatus"] = self.exit_status.to_acp()
        return result


class _Output(asyncio.SubprocessProtocol):
    """Collects a process's output, keeping at most ``limit`` of the latest bytes."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False
        self.exited = asyncio.Event()
        self.eof = asyncio.Event()
        self.exited_at = 0.0

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self.data
        limit = self.limit
        if limit is None:
            buf += data
            return
        if len(data) > limit + 3:  # skip copying bytes that are dropped right away
            buf.clear()
            data = data[-limit - 3 :]
        buf += data
        if len(buf) > limit:
            cut = len(buf) - limit
            # Never start inside a character: skip UTF-8 continuation bytes (at most 3).
            end = min(cut + 3, len(buf))
            while cut < end and buf[cut] & 0xC0 == 0x80:
                cut += 1
            del buf[:cut]
            self.truncated = True

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.eof.set()

    def process_exited(self) -> None:
        self.exited_at = asyncio.get_running_loop().time()
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof.set()


class _Terminal:
    def __init__(self, transport: asyncio.SubprocessTransport, out: _Output) -> None:
        self.transport = transport
        self.out = out
        self.pid = transport.get_pid()

    def drained(self) -> bool:
        """Whether the process exited and its output ended (or the grace period passed)."""
        out = self.out
        if not out.exited.is_set():
            return False
        return out.eof.is_set() or asyncio.get_running_loop().time() >= out.exited_at + DRAIN_GRACE

    def status(self) -> ExitStatus:
        returncode = self.transport.get_returncode()
        assert returncode is not None
        return ExitStatus.from_returncode(returncode)

    def kill(self) -> None:
        """SIGKILL the whole process group, including what the process left behind."""
        # The group may be gone already (PermissionError: macOS, for a zombie leader).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def dispose(self) -> None:
        """Kill, wait for the exit so the child watcher has reaped it, and close the pipes."""
        self.kill()
        try:
            await asyncio.wait_for(self.out.exited.wait(), timeout=5.0)
        except TimeoutError:
            pass  # stuck in the kernel; closing the transport below still reaps it later
        finally:
            self.transport.close()


class TerminalManager:
    """The terminals one ACP client created, addressed by the ids handed to the agent."""

    def __init__(self, workspace: Workspace, *, base_env: Mapping[str, str] | None = None) -> None:
        self.workspace = workspace
        self.base_env = base_env
        self._terminals: dict[str, _Terminal] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._terminals)

    async def create(
        self,
        command: str,
        args: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
    ) -> str:
        """Start a process and return its terminal id.

        Without ``args`` the command is a shell command line run by ``/bin/sh -c`` (agents send
        whole lines such as ``ls | head``); with ``args`` the program is executed directly, so the
        arguments reach it verbatim. The environment is ``base_env`` (the agent's environment;
        the host's when none was given) plus ``env``.
        """
        if output_byte_limit is not None and output_byte_limit < 0:
            raise ValueError(f"output_byte_limit must be >= 0, not {output_byte_limit}")
        workdir = self.workspace.resolve_cwd(cwd)
        base = os.environ if self.base_env is None else self.base_env
        full_env = {**base, **(env or {})}
        argv = [command, *args] if args else ["/bin/sh", "-c", command]
        loop = asyncio.get_running_loop()
        out = _Output(output_byte_limit)
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: out,
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=full_env,
                start_new_session=True,
            )
        except OSError as exc:
            raise AcphostError(
                f"cannot run {command!r}: {exc.strerror or exc}",
                hint="check that the program exists and is executable, or pass no args to run "
                "the command through the shell",
            ) from exc
        read_pipes_directly(transport, out)
        terminal_id = f"term-{next(self._ids)}"
        self._terminals[terminal_id] = _Terminal(transport, out)
        return terminal_id

    def _get(self, terminal_id: str) -> _Terminal:
        try:
            return self._terminals[terminal_id]
        except KeyError:
            raise TerminalNotFound(f"unknown terminal {terminal_id!r}") from None

    async def output(self, terminal_id: str) -> TerminalOutput:
        """The output retained so far, with the exit status once the process has ended."""
        return self.peek(terminal_id)

    def peek(self, terminal_id: str) -> TerminalOutput:
        """:meth:`output`, callable outside the loop's tasks (raises for an unknown id)."""
        terminal = self._get(terminal_id)
        out = terminal.out
        return TerminalOutput(
            output=out.data.decode("utf-8", "replace"),
            truncated=out.truncated,
            exit_status=terminal.status() if terminal.drained() else None,
        )

    async def wait_for_exit(self, terminal_id: str) -> ExitStatus:
        """Wait until the process has exited and its output has been read to the end."""
        terminal = self._get(terminal_id)
        out = terminal.out
        await out.exited.wait()
        if not out.eof.is_set():
            remaining = out.exited_at + DRAIN_GRACE - asyncio.get_running_loop().time()
            # On timeout a background grandchild holds the pipe: report the exit anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(out.eof.wait(), timeout=max(remaining, 0.0))
        return terminal.status()

    def running(self, terminal_id: str) -> bool:
        """Whether the terminal's process has not exited yet."""
        return not self._get(terminal_id).out.exited.is_set()

    async def kill(self, terminal_id: str) -> None:
        """Kill the process group; the terminal keeps its output and status until released."""
        self._get(terminal_id).kill()

    async def release(self, terminal_id: str) -> None:
        """Kill the process group if still running and forget the terminal."""
        terminal = self._get(terminal_id)
        del self._terminals[terminal_id]
        await terminal.dispose()

    async def close(self) -> None:
        """Kill and release every terminal (on shutdown)."""
        terminals = list(self._terminals.values())
        self._terminals.clear()
        results = await asyncio.gather(*(t.dispose() for t in terminals), return_exceptions=True)
        await asyncio.sleep(0)  # let the closed pipes' callbacks run while the loop is alive
        for result in results:
            if isinstance(result, BaseException):
                raise result
