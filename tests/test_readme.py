"""Every code block of README.md runs verbatim, in order, in a fresh copy of the repository.

The copy holds the repository's files as they are now (tracked and new, not ignored ones), so the
README's install line makes a new ``.venv`` there, as it would in a new clone; later blocks run as
if it was activated (its ``bin`` first on PATH), each in its own process, with a temporary
``ACPHOST_HOME`` and stdin closed (nothing may wait for a user). Python blocks run with that
venv's interpreter, bash blocks with ``bash -e -o pipefail``.

A block may carry a visible marker, the line right before it in the README:

* ``<!-- readme-test: skip (reason) -->`` — not run (the test suite itself only);
* ``<!-- readme-test: serve (...) -->`` — a long-lived server: started, it must answer
  ``/api/health``, then it is stopped (on a free port: ``--port N`` is the one thing changed);
* ``<!-- readme-test: pending (reason) -->`` — needs work not merged yet: it runs and must still
  fail; once it passes, the test fails until the marker is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK_TIMEOUT = 300.0  # per block: pip installs from its cache, slowly on a busy machine
pytestmark = pytest.mark.timeout(900)

_FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*readme-test:\s*(\w+)")
RUNNABLE = {"python", "bash"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README, with its marker if any."""

    line: int
    language: str
    code: str
    marker: str | None

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text``, in order; the marker is on the line right before one."""
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        blocks.append(Block(line, match.group(1), match.group(2), marker and marker.group(1)))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


@dataclass
class Clone:
    """The fresh copy of the repository the blocks run in, and their environment."""

    root: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"


def _copy_repository(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():  # a file deleted but not yet staged is listed too
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def _environment(clone: Path, home: Path) -> dict[str, str]:
    """This process's environment minus its venv and acphost settings, as a new shell has."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACPHOST_", "PYTEST_", "VIRTUAL_ENV")) and k != "PYTHONPATH"
    }
    ours = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != ours]
    env["PATH"] = os.pathsep.join([str(clone / ".venv" / "bin"), *path])
    env["VIRTUAL_ENV"] = str(clone / ".venv")
    env["ACPHOST_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Clone:
    base = tmp_path_factory.mktemp("readme")
    root = base / "acphost"
    _copy_repository(root)
    home = base / "home"
    home.mkdir()
    return Clone(root, _environment(root, home))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(code: str, block: Block, clone: Clone) -> subprocess.Popen[str]:
    """Start a block's code as a process group of its own, output captured."""
    suffix = "py" if block.language == "python" else "sh"
    script = clone.root / f".readme-block-{block.line}.{suffix}"
    script.write_text(code, encoding="utf-8")
    if block.language == "python":
        argv = [str(clone.python), str(script)]
    else:
        argv = ["bash", "-e", "-o", "pipefail", str(script)]
    return subprocess.Popen(
        argv,
        cwd=clone.root,
        env=clone.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_block(block: Block, clone: Clone) -> subprocess.CompletedProcess[str]:
    """Run one block to its end (killed, with everything it started, past the deadline)."""
    process = _start(block.code, block, clone)
    try:
        out, _ = process.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"{block.name} did not finish in {BLOCK_TIMEOUT:.0f} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out)


def serve_block(block: Block, clone: Clone) -> None:
    """Start a server block on a free port, wait for ``/api/health``, then stop it."""
    port = _free_port()
    code, changed = re.subn(r"--port \d+", f"--port {port}", block.code)
    assert changed == 1, f"{block.name}: a serve block names its --port once"
    process = _start(code, block, clone)
    deadline = time.monotonic() + 60.0
    try:
        while True:
            assert process.poll() is None, f"{block.name} exited:\n{process.communicate()[0]}"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5.0)
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{block.name}: no /api/health in 60 s"
                time.sleep(0.1)  # polling the server's own answer, with a deadline
                continue
            assert health.status_code == 200, health.text
            return
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_every_block_is_python_bash_or_text() -> None:
    assert len(BLOCKS) >= 8
    for block in BLOCKS:
        assert block.language in RUNNABLE | {"text"}, f"{block.name}: say which language it is"
        assert block.marker in (None, "skip", "serve", "pending"), block.name
    skipped = [b.code.strip() for b in BLOCKS if b.marker == "skip"]
    assert skipped == ["bash scripts/test.sh"], "only the test suite itself may be skipped"
    assert any("acphost serve" in b.code for b in BLOCKS if b.marker == "serve")


def test_the_install_line_comes_first_and_puts_acphost_on_path() -> None:
    first = BLOCKS[0]
    assert first.language == "bash"
    assert "pip install -e ." in first.code
    assert "source .venv/bin/activate" in first.code
    text = README.read_text(encoding="utf-8")
    assert "on your PATH" in text[: text.index("```")], "say how acphost gets on PATH, at the top"


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.language in RUNNABLE and b.marker != "skip"],
    ids=lambda b: f"line{b.line}",
)
def test_readme_block_runs(block: Block, clone: Clone) -> None:
    if block.marker == "serve":
        serve_block(block, clone)
        return
    result = run_block(block, clone)
    if block.marker == "pending":
        assert result.returncode != 0, (
            f"{block.name} runs now: remove its readme-test: pending marker\n{result.stdout}"
        )
        return
    assert result.returncode == 0, f"{block.name} failed ({result.returncode}):\n{result.stdout}"
