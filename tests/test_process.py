"""The agent process: environment, stderr draining, exit reporting, shutdown, orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from acphost.acp.process import PIPE_READ_SIZE, AgentProcess
from acphost.errors import AgentExited, AgentNotFound


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


async def _spawn(
    code: str, **kwargs: object
) -> tuple[AgentProcess, list[bytes], list[AgentExited]]:
    out: list[bytes] = []
    exits: list[AgentExited] = []
    proc = await AgentProcess.spawn(
        [sys.executable, "-c", textwrap.dedent(code)],
        on_stdout=out.append,
        on_exit=exits.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return proc, out, exits


def test_full_environment_plus_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACPHOST_SECRET_KEY", "inherited")
    monkeypatch.setenv("ACPHOST_REMOVE_ME", "x")

    async def main() -> bytes:
        proc, out, _ = await _spawn(
            "import os; print(os.environ.get('ACPHOST_SECRET_KEY'), os.environ.get('EXTRA'),"
            " os.environ.get('ACPHOST_REMOVE_ME'), os.getpgid(0) == os.getpid())",
            env={"EXTRA": "over", "ACPHOST_REMOVE_ME": None},
        )
        await proc.wait()
        return b"".join(out)

    assert asyncio.run(main()).split() == [b"inherited", b"over", b"None", b"True"]


def test_stderr_flood_is_drained_and_tail_is_bounded() -> None:
    async def main() -> None:
        proc, out, exits = await _spawn(
            """
            import sys
            for i in range(20000):
                sys.stderr.write(f"noise line {i} " + "z" * 100 + "\\n")
            sys.stderr.write("LAST WORDS\\n")
            sys.stderr.flush()
            print("done", flush=True)
            sys.exit(4)
            """
        )
        error = await asyncio.wait_for(proc.wait(), 20)
        assert b"".join(out) == b"done\n"
        assert error.exit_code == 4
        assert error.stderr_tail.endswith("LAST WORDS\n")
        assert len(error.stderr_tail.encode()) <= 64 * 1024
        assert exits == [error]

    asyncio.run(main())


def test_exit_by_signal_is_reported() -> None:
    async def main() -> None:
        proc, _, _ = await _spawn("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        error = await asyncio.wait_for(proc.wait(), 10)
        assert error.signal == signal.SIGKILL
        assert error.exit_code is None
        assert "SIGKILL" in error.message

    asyncio.run(main())


def test_missing_program_is_agent_not_found() -> None:
    async def main() -> None:
        with pytest.raises(AgentNotFound) as info:
            await AgentProcess.spawn(["definitely-not-an-agent-xyz"], on_stdout=lambda b: None)
        assert info.value.code == "agent_not_found"

    asyncio.run(main())


def test_shutdown_closes_stdin_first() -> None:
    async def main() -> None:
        proc, _, _ = await _spawn("import sys; sys.stdin.read(); sys.exit(0)")
        start = time.monotonic()
        await proc.shutdown(grace=5, term_grace=5)
        assert time.monotonic() - start < 4
        assert proc.returncode == 0

    asyncio.run(main())


def test_shutdown_escalates_to_kill_and_takes_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"

    async def main() -> int:
        proc, _, _ = await _spawn(
            f"""
            import signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            ignore = ("import signal, time; "
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")
            child = subprocess.Popen([sys.executable, "-c", ignore])
            open({str(pidfile)!r}, "w").write(str(child.pid))
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """
        )
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text():
                break
            await asyncio.sleep(0.05)
        start = time.monotonic()
        await proc.shutdown(grace=0.3, term_grace=0.3)
        assert time.monotonic() - start < 5
        assert proc.returncode == -signal.SIGKILL
        return int(pidfile.read_text())

    grandchild = asyncio.run(main())
    assert _wait_dead(grandchild), "the agent's child survived shutdown"


HOST = """
import asyncio, sys, time
from acphost.acp.process import PIPE_READ_SIZE, AgentProcess

async def main():
    code = ("import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(c.pid, flush=True); time.sleep(60)")
    lines = []
    proc = await AgentProcess.spawn([sys.executable, "-c", code], on_stdout=lines.append)
    while not lines:
        await asyncio.sleep(0.01)
    print(proc.pid, lines[0].decode().strip(), flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_no_orphans_when_the_host_dies(how: str) -> None:
    # "exit": the host exits at once (no cleanup) when told, once the test saw its agent alive
    exits = "sys.stdin.readline(); import os; os._exit(0)"
    code = HOST if how == "sigkill" else HOST.replace("await asyncio.sleep(60)", exits)
    host = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert host.stdout is not None
        assert host.stdin is not None
        agent_pid, grandchild_pid = (int(x) for x in host.stdout.readline().split())
        assert _alive(agent_pid)
        if how == "sigkill":
            host.kill()
        else:
            host.stdin.write("go\n")
            host.stdin.flush()
        host.wait(timeout=10)
        assert _wait_dead(agent_pid), "the agent outlived its host"
        assert _wait_dead(grandchild_pid), "the agent's child outlived the host"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        assert host.stdout is not None
        assert host.stdin is not None
        host.stdout.close()
        host.stdin.close()


def test_output_is_read_in_pieces_under_the_mmap_threshold_and_arrives_whole() -> None:
    size = 3 * PIPE_READ_SIZE + 123  # one write far larger than a read

    async def main() -> None:
        proc, out, _ = await _spawn(
            f"import sys; sys.stdout.buffer.write(b'x' * {size} + b'\\n'); sys.stdout.flush()"
        )
        assert proc._transport is not None
        for fd in (1, 2):
            assert proc._transport.get_pipe_transport(fd).max_size == PIPE_READ_SIZE  # type: ignore[union-attr]
        await proc.wait()
        data = b"".join(out)
        assert data == b"x" * size + b"\n"
        assert max(len(piece) for piece in out) <= PIPE_READ_SIZE

    asyncio.run(asyncio.wait_for(main(), 20))
