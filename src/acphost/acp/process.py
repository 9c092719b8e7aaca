"""The agent subprocess: spawn, drain, watch, shut down.

Unlike the official SDK's spawner, the agent gets the host's *full* environment (plus
overrides), its stderr is drained continuously (a chatty agent never blocks on a full pipe) into
a bounded tail kept for error reports, and it runs in its own process group so that shutdown
can reach every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from acphost.acp import _reaper
from acphost.errors import AgentExited, AgentNotFound, AgentStartError

__all__ = ["PIPE_READ_SIZE", "AgentProcess", "build_env", "read_pipes_directly"]

PIPE_READ_SIZE = 64 * 1024
"""The most one read of a child's pipe asks for: a Linux pipe's capacity, so nothing is lost.

asyncio asks for 256 KiB, above glibc's mmap threshold: every read, even of one short line,
then maps, remaps and unmaps a buffer (three system calls, ~12 µs); under it, ~0.6 µs.
"""


def read_pipes_directly(
    transport: asyncio.SubprocessTransport, protocol: asyncio.SubprocessProtocol
) -> None:
    """Read a child's stdout and stderr at most ``PIPE_READ_SIZE`` at a time, and hand what
    is read to ``protocol`` at once.

    asyncio's subprocess transport schedules every piece it reads as a callback of its own,
    one more loop iteration (an ``epoll`` call and its bookkeeping) for each read: a round
    trip with the agent paid it once a message. Each pipe gets a protocol that calls
    ``protocol.pipe_data_received`` itself and leaves the rest (end of file, closing, the
    exit) to the transport's own, so the order of data and close stays the same.
    """
    for fd in (1, 2):
        pipe = transport.get_pipe_transport(fd)
        if pipe is None:
            continue
        if hasattr(pipe, "max_size"):
            pipe.max_size = PIPE_READ_SIZE
        pipe.set_protocol(_DirectReads(fd, pipe.get_protocol(), protocol))


class _DirectReads(asyncio.Protocol):
    def __init__(
        self, fd: int, original: asyncio.BaseProtocol, target: asyncio.SubprocessProtocol
    ) -> None:
        self._fd = fd
        self._original = original
        self._target = target

    def data_received(self, data: bytes) -> None:
        self._target.pipe_data_received(self._fd, data)

    def eof_received(self) -> bool | None:
        original = self._original
        return original.eof_received() if isinstance(original, asyncio.Protocol) else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._original.connection_lost(exc)


STDERR_TAIL_BYTES = 64 * 1024


def build_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The full inherited environment plus ``overrides`` (a ``None`` value removes a name)."""
    env = dict(os.environ)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class _StderrTail:
    __slots__ = ("_chunks", "_limit", "_size", "dropped")

    def __init__(self, limit: int) -> None:
        self._chunks: deque[bytes] = deque()
        self._limit = limit
        self._size = 0
        self.dropped = 0

    def append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self._limit:
            removed = self._chunks.popleft()
            self._size -= len(removed)
            self.dropped += len(removed)

    def text(self) -> str:
        data = b"".join(self._chunks)[-self._limit :]
        return data.decode("utf-8", "replace")


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, owner: AgentProcess) -> None:
        self._owner = owner

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self._owner._on_stdout(data)
        else:
            self._owner._stderr_data(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._owner._pipe_closed(fd)

    def process_exited(self) -> None:
        self._owner._process_exited()


class AgentProcess:
    """A running agent program. Create with :meth:`spawn` on the loop that will own its I/O."""

    def __init__(
        self,
        argv: Sequence[str],
        on_stdout: Callable[[bytes], None],
        on_stdout_eof: Callable[[], None],
        on_exit: Callable[[AgentExited], None],
        on_stderr: Callable[[bytes], None] | None,
        stderr_tail_bytes: int,
    ) -> None:
        self.argv = list(argv)
        self._on_stdout = on_stdout
        self._on_stdout_eof = on_stdout_eof
        self._on_exit = on_exit
        self._on_stderr = on_stderr
        self._tail = _StderrTail(stderr_tail_bytes)
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._exited = asyncio.get_running_loop().create_future()
        self._closed_fds: set[int] = set()
        self._process_done = False
        self._exit_reported = False
        self.pid = 0

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        on_stdout: Callable[[bytes], None],
        on_stdout_eof: Callable[[], None] = lambda: None,
        on_exit: Callable[[AgentExited], None] = lambda error: None,
        on_stderr: Callable[[bytes], None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str | None] | None = None,
        stderr_tail_bytes: int = STDERR_TAIL_BYTES,
    ) -> AgentProcess:
        """Start ``argv`` without a shell, in a new process group, with the full environment."""
        if not argv:
            raise AgentStartError("no agent command was given", hint="pass the agent's command")
        full_env = build_env(env)
        program = argv[0]
        if os.sep not in program and shutil.which(program, path=full_env.get("PATH")) is None:
            raise AgentNotFound(f"the agent program {program!r} was not found on PATH")
        if cwd is not None and not Path(cwd).is_dir():
            raise AgentStartError(f"the agent's working directory {cwd} does not exist")
        self = cls(argv, on_stdout, on_stdout_eof, on_exit, on_stderr, stderr_tail_bytes)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(self),
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=full_env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise AgentNotFound(f"the agent program {program!r} was not found: {exc}") from exc
        except OSError as exc:
            raise AgentStartError(f"the agent program {program!r} could not start: {exc}") from exc
        self._transport = transport
        read_pipes_directly(transport, protocol)
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        self.pid = transport.get_pid()
        _reaper.watch_group(self.pid)
        return self

    # --- I/O -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write bytes to the agent's stdin (dropped once stdin is closed)."""
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.write(data)

    def _stderr_data(self, data: bytes) -> None:
        self._tail.append(data)
        if self._on_stderr is not None:
            self._on_stderr(data)

    def stderr_tail(self) -> str:
        """The last bytes the agent wrote to stderr (bounded), for error reports."""
        return self._tail.text()

    # --- exit ----------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """The exit code, negative for a signal; ``None`` while running."""
        return None if self._transport is None else self._transport.get_returncode()

    def _pipe_closed(self, fd: int) -> None:
        self._closed_fds.add(fd)
        if fd == 1:
            self._on_stdout_eof()
        self._maybe_report_exit()

    def _process_exited(self) -> None:
        self._process_done = True
        loop = asyncio.get_running_loop()
        # Give the pipes a moment to deliver their last bytes; a grandchild may hold them open.
        loop.call_later(0.5, self._report_exit)
        self._maybe_report_exit()

    def _maybe_report_exit(self) -> None:
        if self._process_done and {1, 2} <= self._closed_fds:
            self._report_exit()

    def _report_exit(self) -> None:
        if self._exit_reported:
            return
        self._exit_reported = True
        self._release_group()
        if self._transport is not None:
            self._transport.close()
        error = self.exit_error()
        if not self._exited.done():
            self._exited.set_result(error)
        self._on_exit(error)

    def exit_error(self, what: str = "the agent exited") -> AgentExited:
        """An ``AgentExited`` error saying how the agent ended, with its stderr tail."""
        code = self.returncode
        exit_code = code if code is not None and code >= 0 else None
        sig = -code if code is not None and code < 0 else None
        how = (
            f"with code {exit_code}"
            if exit_code is not None
            else f"by signal {signal.Signals(sig).name}"
            if sig is not None
            else "while running"
        )
        return AgentExited(
            f"{what} {how}", exit_code=exit_code, signal=sig, stderr_tail=self.stderr_tail()
        )

    def _release_group(self) -> None:
        # Whatever the agent left behind in its group dies with it.
        if self.pid:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            _reaper.forget_group(self.pid)

    async def wait(self) -> AgentExited:
        """Wait until the process has exited and its output is read."""
        result: AgentExited = await asyncio.shield(self._exited)
        return result

    async def shutdown(self, *, grace: float = 2.0, term_grace: float = 2.0) -> None:
        """Close stdin, wait; terminate the group, wait; kill. Bounded by the two graces."""
        if self._transport is None:
            return
        if not self._exited.done():
            if self._stdin is not None:
                self._stdin.close()
            if not await self._wait_for(grace):
                self._signal_group(signal.SIGTERM)
                if not await self._wait_for(term_grace):
                    self._signal_group(signal.SIGKILL)
                    await self._wait_for(5.0)
        self._release_group()
        self._transport.close()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, sig)

    async def _wait_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), seconds)
        except TimeoutError:
            return False
        return True
