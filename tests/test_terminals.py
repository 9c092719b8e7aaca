"""Terminals: real processes, merged output with a byte limit, exit status, group kills."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from acphost.acp.fs import Workspace
from acphost.acp.terminals import (
    DRAIN_GRACE,
    ExitStatus,
    TerminalManager,
    TerminalOutput,
    _Output,
)
from acphost.errors import AcphostError, TerminalNotFound, WorkspaceError

T = TypeVar("T")


def run(make: Callable[[TerminalManager], Awaitable[T]], root: Path) -> T:
    """Run ``make(manager)`` on a fresh loop and always close the manager afterwards."""

    async def main() -> T:
        manager = TerminalManager(Workspace(root))
        try:
            return await make(manager)
        finally:
            await manager.close()

    return asyncio.run(main())


async def output_containing(manager: TerminalManager, tid: str, needle: str) -> str:
    """Poll until the output contains ``needle`` (a pid a command printed, say)."""
    deadline = time.monotonic() + 5
    while True:
        out = (await manager.output(tid)).output
        if needle in out:
            return out
        assert time.monotonic() < deadline, f"no {needle!r} in {out!r}"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (zombies nobody reaped count as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(*pids: int) -> None:
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still alive: {[p for p in pids if alive(p)]}"
        time.sleep(0.01)


def pids_in(text: str) -> list[int]:
    return [int(word) for word in text.split() if word.isdigit()]


# --- running commands ---------------------------------------------------------------------------


def test_shell_command_line_with_pipes(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[ExitStatus, TerminalOutput]:
        tid = await m.create("printf 'a\\nb\\nc\\n' | wc -l && echo err >&2")
        status = await m.wait_for_exit(tid)
        return status, await m.output(tid)

    status, out = run(go, tmp_path)
    assert status == ExitStatus(exit_code=0, signal=None)
    assert out.output.split() == ["3", "err"]
    assert out.truncated is False
    assert out.exit_status == status


def test_program_with_args_gets_no_shell(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> str:
        tid = await m.create("printf", ["%s|%s", "$HOME", "a b;c"])
        await m.wait_for_exit(tid)
        return (await m.output(tid)).output

    assert run(go, tmp_path) == "$HOME|a b;c"


def test_stderr_is_merged_into_the_output(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> str:
        tid = await m.create("/bin/sh", ["-c", "echo out; echo err >&2; echo out2"])
        await m.wait_for_exit(tid)
        return (await m.output(tid)).output

    assert run(go, tmp_path) == "out\nerr\nout2\n"


def test_env_is_added_to_the_inherited_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACPHOST_TEST_INHERITED", "inherited")
    monkeypatch.setenv("ACPHOST_TEST_OVERRIDDEN", "old")

    async def go(m: TerminalManager) -> str:
        tid = await m.create(
            'echo "$ACPHOST_TEST_INHERITED $ACPHOST_TEST_EXTRA $ACPHOST_TEST_OVERRIDDEN"',
            env={"ACPHOST_TEST_EXTRA": "extra", "ACPHOST_TEST_OVERRIDDEN": "new"},
        )
        await m.wait_for_exit(tid)
        return (await m.output(tid)).output

    assert run(go, tmp_path) == "inherited extra new\n"


def test_base_env_replaces_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACPHOST_TEST_INHERITED", "inherited")

    async def main() -> str:
        m = TerminalManager(Workspace(tmp_path), base_env={"PATH": "/usr/bin:/bin", "B": "b"})
        try:
            tid = await m.create('echo "[$ACPHOST_TEST_INHERITED][$B]"')
            await m.wait_for_exit(tid)
            return (await m.output(tid)).output
        finally:
            await m.close()

    assert asyncio.run(main()) == "[][b]\n"


def test_cwd_inside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()

    async def go(m: TerminalManager) -> list[str]:
        outputs = []
        for cwd in (None, "sub", str(tmp_path / "sub")):
            tid = await m.create("pwd", cwd=cwd)
            await m.wait_for_exit(tid)
            outputs.append((await m.output(tid)).output.strip())
        return outputs

    root = tmp_path.resolve()
    assert run(go, tmp_path) == [str(root), str(root / "sub"), str(root / "sub")]


def test_cwd_escape_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    marker = tmp_path / "marker"

    async def go(m: TerminalManager) -> int:
        for cwd in ("..", str(tmp_path)):
            with pytest.raises(WorkspaceError):
                await m.create(f"touch {marker}", cwd=cwd)
        return len(m)

    assert run(go, ws) == 0
    assert not marker.exists()


def test_exit_code(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> ExitStatus:
        return await m.wait_for_exit(await m.create("echo bye; exit 3"))

    status = run(go, tmp_path)
    assert status == ExitStatus(exit_code=3, signal=None)
    assert status.to_acp() == {"exitCode": 3, "signal": None}


def test_missing_program(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> ExitStatus:
        with pytest.raises(AcphostError, match="no-such-program-acphost"):
            await m.create("no-such-program-acphost", ["x"])
        assert len(m) == 0
        return await m.wait_for_exit(await m.create("no-such-program-acphost x"))

    assert run(go, tmp_path).exit_code == 127


def test_output_while_running_has_no_exit_status(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[TerminalOutput, ExitStatus, TerminalOutput]:
        tid = await m.create("echo started; sleep 0.3; echo done")
        await output_containing(m, tid, "started")
        running = await m.output(tid)
        status = await m.wait_for_exit(tid)
        return running, status, await m.output(tid)

    running, status, done = run(go, tmp_path)
    assert running == TerminalOutput(output="started\n", truncated=False, exit_status=None)
    assert running.to_acp() == {"output": "started\n", "truncated": False}
    assert status.exit_code == 0
    assert done.output == "started\ndone\n"
    assert done.to_acp()["exitStatus"] == {"exitCode": 0, "signal": None}


def test_wait_for_exit_from_several_waiters(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> list[ExitStatus]:
        tid = await m.create("sleep 0.2; exit 7")
        return list(await asyncio.gather(*(m.wait_for_exit(tid) for _ in range(3))))

    assert run(go, tmp_path) == [ExitStatus(exit_code=7, signal=None)] * 3


def test_background_grandchild_does_not_block_wait_for_exit(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[ExitStatus, float, int]:
        tid = await m.create("sleep 30 & echo $!")
        started = time.monotonic()
        status = await m.wait_for_exit(tid)
        elapsed = time.monotonic() - started
        grandchild = pids_in((await m.output(tid)).output)[0]
        assert alive(grandchild)
        await m.release(tid)
        return status, elapsed, grandchild

    status, elapsed, grandchild = run(go, tmp_path)
    assert status.exit_code == 0
    assert elapsed < DRAIN_GRACE + 1
    wait_dead(grandchild)


def test_exit_is_reported_only_after_the_output_ended(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[TerminalOutput, ExitStatus, TerminalOutput]:
        # The shell exits at once; its background subshell keeps the pipe open a little longer.
        tid = await m.create("(sleep 0.4; echo late) & echo early")
        await output_containing(m, tid, "early")
        await asyncio.sleep(0.15)
        before_eof = await m.output(tid)
        status = await m.wait_for_exit(tid)
        return before_eof, status, await m.output(tid)

    before_eof, status, after = run(go, tmp_path)
    assert before_eof == TerminalOutput("early\n", False, None)
    assert status == ExitStatus(0, None)
    assert after == TerminalOutput("early\nlate\n", False, status)


def test_stdin_is_dev_null(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> str:
        tid = await m.create("cat; readlink /proc/self/fd/0")
        await m.wait_for_exit(tid)
        return (await m.output(tid)).output

    assert run(go, tmp_path) == "/dev/null\n"


# --- output limit -------------------------------------------------------------------------------


def test_output_byte_limit_truncates_at_a_character_boundary(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.buffer.write('é'.encode() * 999 + b'END')"

    async def go(m: TerminalManager) -> TerminalOutput:
        tid = await m.create(sys.executable, ["-c", script], output_byte_limit=101)
        await m.wait_for_exit(tid)
        return await m.output(tid)

    out = run(go, tmp_path)
    assert out.truncated is True
    assert len(out.output.encode()) <= 101
    assert "\ufffd" not in out.output
    assert out.output == "é" * 49 + "END"
    assert out.to_acp()["truncated"] is True


def test_output_byte_limit_over_many_chunks(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "for i in range(200):\n"
        "    sys.stdout.buffer.write('aé€😀'.encode()); sys.stdout.flush()\n"
        "    if i % 50 == 0: time.sleep(0.01)\n"
        "sys.stdout.buffer.write(b'|tail')\n"
    )

    async def go(m: TerminalManager) -> TerminalOutput:
        tid = await m.create(sys.executable, ["-c", script], output_byte_limit=64)
        await m.wait_for_exit(tid)
        return await m.output(tid)

    out = run(go, tmp_path)
    assert out.truncated is True
    assert len(out.output.encode()) <= 64
    assert "\ufffd" not in out.output
    assert out.output.endswith("aé€😀|tail")
    assert ("aé€😀" * 20 + "|tail").endswith(out.output)


def test_output_within_the_limit_is_not_truncated(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> list[TerminalOutput]:
        exact = await m.create("printf 'é1234'", output_byte_limit=6)
        unlimited = await m.create(sys.executable, ["-c", "print('x' * 300000)"])
        await m.wait_for_exit(exact)
        await m.wait_for_exit(unlimited)
        return [await m.output(exact), await m.output(unlimited)]

    exact, unlimited = run(go, tmp_path)
    assert exact == TerminalOutput("é1234", False, ExitStatus(0, None))
    assert unlimited.output == "x" * 300000 + "\n"
    assert unlimited.truncated is False


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 5, 7])
def test_output_buffer_never_splits_a_character(limit: int) -> None:
    data = "a€😀é".encode()  # 1 + 3 + 4 + 2 bytes
    for size in (1, 2, 3, len(data)):
        buffer = _Output(limit)
        for start in range(0, len(data), size):
            buffer.pipe_data_received(1, data[start : start + size])
        kept = bytes(buffer.data)
        assert len(kept) <= limit
        assert data.endswith(kept)
        kept.decode("utf-8")  # strict: raises if a character was split
        assert buffer.truncated is (len(data) > limit)


# --- kill, release, close -----------------------------------------------------------------------


def test_kill_reports_the_signal_and_kills_the_group(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[ExitStatus, TerminalOutput, list[int]]:
        tid = await m.create("sleep 30 & echo $$ $!; wait")
        pids = pids_in(await output_containing(m, tid, "\n"))
        await m.kill(tid)
        status = await m.wait_for_exit(tid)
        return status, await m.output(tid), pids

    status, out, pids = run(go, tmp_path)
    assert status == ExitStatus(exit_code=None, signal="SIGKILL")
    assert status.to_acp() == {"exitCode": None, "signal": "SIGKILL"}
    assert out.exit_status == status
    assert len(pids) == 2
    wait_dead(*pids)


def test_kill_of_a_direct_program(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> tuple[ExitStatus, ExitStatus]:
        tid = await m.create("sleep", ["30"])
        await m.kill(tid)
        status = await m.wait_for_exit(tid)
        await m.kill(tid)  # killing again, after the exit, is harmless
        return status, await m.wait_for_exit(tid)

    first, second = run(go, tmp_path)
    assert first == second == ExitStatus(exit_code=None, signal="SIGKILL")


def test_unknown_and_released_ids(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> None:
        for tid in ("term-999", "nope"):
            with pytest.raises(TerminalNotFound):
                await m.output(tid)
            with pytest.raises(TerminalNotFound):
                await m.wait_for_exit(tid)
            with pytest.raises(TerminalNotFound):
                await m.kill(tid)
            with pytest.raises(TerminalNotFound, match=tid):
                await m.release(tid)
        tid = await m.create("true")
        await m.wait_for_exit(tid)
        await m.release(tid)
        with pytest.raises(TerminalNotFound):
            await m.output(tid)
        with pytest.raises(TerminalNotFound):
            await m.release(tid)
        assert await m.create("true") != tid  # ids are never reused

    run(go, tmp_path)


def test_release_kills_a_running_process(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> list[int]:
        tid = await m.create("sleep 30 & echo $$ $!; wait")
        pids = pids_in(await output_containing(m, tid, "\n"))
        await m.release(tid)
        assert len(m) == 0
        return pids

    pids = run(go, tmp_path)
    assert len(pids) == 2
    wait_dead(*pids)


def test_close_kills_everything_and_leaves_no_tasks(tmp_path: Path) -> None:
    async def main() -> list[int]:
        m = TerminalManager(Workspace(tmp_path))
        pids: list[int] = []
        for _ in range(3):
            tid = await m.create("sleep 30 & echo $$ $!; wait")
            pids += pids_in(await output_containing(m, tid, "\n"))
        done = await m.create("true")
        await m.wait_for_exit(done)
        await m.close()
        assert len(m) == 0
        with pytest.raises(TerminalNotFound):
            await m.output(done)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return pids

    pids = asyncio.run(main())
    assert len(pids) == 6
    wait_dead(*pids)


def test_negative_output_limit_is_refused(tmp_path: Path) -> None:
    async def go(m: TerminalManager) -> None:
        with pytest.raises(ValueError, match="output_byte_limit"):
            await m.create("true", output_byte_limit=-1)

    run(go, tmp_path)
