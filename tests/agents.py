"""Locate the real third-party ACP agents that ``scripts/install-agents.sh`` installs.

Each ``find_*`` function returns what is needed to run one agent, or raises
:class:`AgentUnavailable` with a reason a person can act on. Tests turn that into
``pytest.skip`` (or ``pytest.fail`` when ``ACPHOST_REQUIRE_AGENTS=1``, so a machine that is
meant to have the agents cannot pass by skipping them).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = [
    "AGENTS_DIR",
    "PROJECT_ROOT",
    "AgentUnavailable",
    "FastAgent",
    "find_fast_agent",
    "installed_versions",
    "require",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AGENTS_DIR = Path(os.environ.get("ACPHOST_AGENTS_DIR") or PROJECT_ROOT / ".cache" / "agents")
INSTALL_HINT = "run `bash scripts/install-agents.sh`"


class AgentUnavailable(Exception):
    """The agent is not installed (or not runnable); the message says why."""


def installed_versions() -> dict[str, str]:
    """What ``install-agents.sh`` recorded in ``versions.txt`` (name -> version)."""
    try:
        lines = (AGENTS_DIR / "versions.txt").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(maxsplit=1) for line in lines if len(line.split()) == 2)


def _executable(path: Path, origin: str) -> Path:
    if not path.is_file():
        raise AgentUnavailable(f"{path} does not exist ({origin}); {INSTALL_HINT}")
    if not os.access(path, os.X_OK):
        raise AgentUnavailable(f"{path} is not executable ({origin})")
    return path


@dataclass(frozen=True)
class FastAgent:
    """fast-agent (PyPI ``fast-agent-mcp``) as an ACP agent with a scripted model.

    With ``--model passthrough`` the prompt scripts the turn: ``***CALL_TOOL <tool> <json>``
    calls ``read_text_file`` ``{"path", "line"?, "limit"?}``, ``write_text_file``
    ``{"path", "content"}`` or ``execute`` ``{"command"}`` (after asking permission, through
    the client's fs and terminal methods); ``***FIXED_RESPONSE <text>`` replies with the text;
    anything else is echoed back. ``--model slow`` waits 3 s before answering.
    """

    executable: Path
    version: str | None = field(default=None)

    def command(self, home: Path, *, model: str = "passthrough") -> list[str]:
        """The command line; ``home`` is fast-agent's own state folder (``--home``)."""
        return [
            str(self.executable),
            "--no-update-check",
            "acp",
            "--model",
            model,
            "--shell",
            "--home",
            str(home),
        ]

    @staticmethod
    def env(user_home: Path) -> dict[str, str]:
        """Overrides for the agent's environment: an isolated ``HOME`` and no telemetry."""
        return {
            "HOME": str(user_home),
            "OTEL_SDK_DISABLED": "true",
            "DO_NOT_TRACK": "1",
            "NO_COLOR": "1",
        }


def find_fast_agent() -> FastAgent:
    """``$ACPHOST_FAST_AGENT``, else ``.cache/agents/fast-agent/venv/bin/fast-agent``."""
    override = os.environ.get("ACPHOST_FAST_AGENT")
    if override:
        located = shutil.which(override) or override
        return FastAgent(_executable(Path(located), "$ACPHOST_FAST_AGENT"))
    path = AGENTS_DIR / "fast-agent" / "venv" / "bin" / "fast-agent"
    executable = _executable(path, "installed by scripts/install-agents.sh")
    return FastAgent(executable, installed_versions().get("fast-agent"))


def require(name: str, error: AgentUnavailable) -> None:
    """Skip the test because agent ``name`` is missing, or fail if agents are required."""
    reason = f"{name} not installed: {error}"
    if os.environ.get("ACPHOST_REQUIRE_AGENTS") == "1":
        pytest.fail(f"{reason} (ACPHOST_REQUIRE_AGENTS=1)", pytrace=False)
    pytest.skip(reason)
