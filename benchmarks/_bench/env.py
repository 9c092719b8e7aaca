"""Where things are, which interpreters run the drivers, and the environment they get."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
REPO = HERE.parent
DRIVERS_DIR = HERE / "drivers"
AGENT = HERE / "storm_agent.py"
OPENHANDS_VENV = HERE / ".venv-openhands"
OPENHANDS_PY = OPENHANDS_VENV / "bin" / "python"

# Every subprocess gets these. litellm (imported by openhands-sdk) otherwise fetches its model
# cost map from the internet in a background thread at import; with no network here that thread
# retries, logs, and its logging filter imports modules concurrently with the main thread, which
# now and then dies with an import deadlock. Its documented switch keeps the local copy.
SUBPROCESS_ENV = {"OPENHANDS_SUPPRESS_BANNER": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def subprocess_env() -> dict[str, str]:
    env = {**os.environ, **SUBPROCESS_ENV}
    env.pop("PYTHONPATH", None)
    return env


def log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_python(
    python: str, code: str, *, timeout: float = 120, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the benchmarks' environment, its output captured as text."""
    return subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=subprocess_env(),
        cwd=cwd,
    )


def _can_import(python: str, modules: Sequence[str]) -> str | None:
    """``None`` if ``python`` imports every module, else the reason it does not."""
    try:
        done = run_python(python, "import " + ", ".join(modules))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot run: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python}: {last}"
    return None


def find_host_python() -> tuple[str, str | None]:
    """The interpreter for the acphost/SDK drivers: it must import acphost, acp and orjson."""
    candidates = [
        os.environ.get("ACPHOST_BENCH_PYTHON"),
        sys.executable,
        str(REPO / ".venv" / "bin" / "python"),
    ]
    reason = None
    for python in candidates:
        if python and Path(python).exists():
            reason = _can_import(python, ["acphost", "acp", "orjson"])
            if reason is None:
                return python, None
    return sys.executable, reason or "no interpreter with acphost installed"


_OPENHANDS: tuple[str, str | None] | None = None


def openhands_python() -> tuple[str, str | None]:
    """The OpenHands venv's interpreter, or why it cannot be used (checked once: ~5 s)."""
    global _OPENHANDS
    if _OPENHANDS is None:
        _OPENHANDS = _openhands_python()
    return _OPENHANDS


def _openhands_python() -> tuple[str, str | None]:
    if not OPENHANDS_PY.exists():
        return str(OPENHANDS_PY), "benchmarks/.venv-openhands is missing: run benchmarks/setup.sh"
    reason = _can_import(str(OPENHANDS_PY), ["openhands.sdk"])
    if reason is not None:
        return str(OPENHANDS_PY), f"openhands-sdk does not import ({reason[-160:]})"
    return str(OPENHANDS_PY), None


def revision() -> str:
    """The acphost commit measured (``-dirty``: with uncommitted changes in the work tree)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--exclude", "*"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"
