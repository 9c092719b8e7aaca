"""Locate the real third-party ACP agents that ``scripts/install-agents.sh`` installs, and
say how each one is driven offline.

Each ``find_*`` function returns what is needed to run one agent, or raises
:class:`AgentUnavailable` with a reason a person can act on. Tests turn that into
``pytest.skip`` (or ``pytest.fail`` when ``ACPHOST_REQUIRE_AGENTS=1``, so a machine that is
meant to have the agents cannot pass by skipping them).

A :class:`Profile` is one way of running one agent for the end-to-end tests
(``test_real_agents.py``): its isolated ``HOME`` and config files, the environment that points
it at a :class:`~acphost.testing.ModelServer` and keeps it off the network, and how to make it
read, run and write (scripted model answers naming its own tools, or fast-agent's
``passthrough`` prompts). Launch commands come from acphost's own registry, so the tests
exercise the entries users get.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from acphost.agents import ACPAgent, AgentEntry
from acphost.agents._builtin import BUILTIN_AGENTS
from acphost.agents._config import agents_dir
from acphost.testing import ScriptedReply, TextReply, ToolCallReply

__all__ = [
    "AGENTS_DIR",
    "FINAL_TEXT",
    "PROFILES",
    "PROJECT_ROOT",
    "AgentUnavailable",
    "FastAgent",
    "Profile",
    "Step",
    "find_fast_agent",
    "installed_versions",
    "require",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The same variable as scripts/test.sh and acphost's registry: set here too, so a bare
# `pytest` and the CLI subprocesses it starts see the agents install-agents.sh put there.
os.environ.setdefault("ACPHOST_AGENTS_DIR", str(PROJECT_ROOT / ".cache" / "agents"))
AGENTS_DIR = agents_dir()
INSTALL_HINT = f"run `ACPHOST_AGENTS_DIR={AGENTS_DIR} bash scripts/install-agents.sh`"


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


# --- profiles for the end-to-end tests -----------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One turn: the prompt, and the model answers to queue for it (none for passthrough)."""

    prompt: str
    replies: tuple[ScriptedReply, ...] = ()


def _tool(name: str | tuple[str, ...], **arguments: Any) -> Step:
    # The prompt says what the scripted model will do, so a transcript reads naturally.
    return Step(
        f"Please use {name if isinstance(name, str) else name[0]}: {json.dumps(arguments)}",
        (ToolCallReply(name=name, arguments=arguments), TextReply(text=FINAL_TEXT)),
    )


FINAL_TEXT = "All done."


@dataclass(frozen=True)
class Profile:
    """One real agent, run one way (see the module docstring)."""

    label: str  # the test id
    entry: str  # the registry name
    uses_server: bool = True
    asks_before_shell: bool = True  # does a plain shell command go through a permission?
    asks_when_allowed: bool = True  # does it ask when the policy allows all (no mode chosen)?
    steers: bool = False  # does it take messages into a running turn (``_session/steering``)?

    @property
    def family(self) -> str:
        """The agent behind the entry (``claude-node22`` is Claude Code too)."""
        return _FAMILIES.get(self.entry, self.entry)

    # --- starting ------------------------------------------------------------------------

    def locate(self) -> tuple[AgentEntry, list[str]]:
        """The registry entry and its launch command, found in this project's agents
        directory; :class:`AgentUnavailable` when it is not installed there."""
        entry = BUILTIN_AGENTS[self.entry]
        if not entry.installed():
            raise AgentUnavailable(f"{entry.not_found().message}; {INSTALL_HINT}")
        return entry, entry.launch_command()

    def version(self) -> str | None:
        return installed_versions().get(_VERSION_KEYS.get(self.entry, self.entry))

    def agent(
        self,
        tmp: Path,
        base_url: str | None,
        *,
        slow: bool = False,
        credentials: bool = True,
        cls: type[ACPAgent] = ACPAgent,
    ) -> ACPAgent:
        """The agent with an isolated ``HOME`` (and config) under ``tmp``, using the model
        server at ``base_url``; the same ``tmp`` gives the same home, so a restarted agent
        finds its saved sessions."""
        entry, command = self.locate()
        home = tmp / f"{self.label}-home"
        home.mkdir(parents=True, exist_ok=True)
        env: dict[str, str | None] = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "NO_COLOR": "1",
            "DO_NOT_TRACK": "1",
        }
        base = base_url or "http://127.0.0.1:9"  # nothing listens on the discard port
        if self.family == "fast-agent":
            model = "slow" if slow else "passthrough"
            if self.uses_server:
                model = "generic.fake-model"
                env |= {"GENERIC_BASE_URL": f"{base}/v1", "GENERIC_API_KEY": "x"}
            command += ["--model", model, "--home", str(home / "fast-agent")]
        elif self.family == "claude":
            env |= {
                "ANTHROPIC_BASE_URL": base,
                "ANTHROPIC_API_KEY": "sk-ant-x" if credentials else None,
                "ANTHROPIC_AUTH_TOKEN": None,
                "CLAUDE_CODE_OAUTH_TOKEN": None,
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_TELEMETRY": "1",
                "DISABLE_AUTOUPDATER": "1",
                "DISABLE_ERROR_REPORTING": "1",
            }
            if os.geteuid() == 0 or "IS_SANDBOX" in os.environ:
                env["IS_SANDBOX"] = "1"  # exactly "1": any other value breaks session/new
        elif self.family == "codex":
            codex_home = home / ".codex"
            codex_home.mkdir(exist_ok=True)
            config = _CODEX_CONFIG.format(base=f"{base}/v1")
            if not credentials:  # its own provider, that needs a login or OPENAI_API_KEY
                config = config.replace('model_provider = "fake"\n', "")
            (codex_home / "config.toml").write_text(config)
            env |= {
                "CODEX_HOME": str(codex_home),
                "FAKE_API_KEY": "x" if credentials else None,
                "OPENAI_API_KEY": None,
                "CODEX_API_KEY": None,
                "NO_BROWSER": "1",
                "INITIAL_AGENT_MODE": "workspace-write",
            }
        elif self.family == "kimi":
            share = home / ".kimi"
            (share / "credentials").mkdir(parents=True, exist_ok=True)
            (share / "config.toml").write_text(_KIMI_CONFIG.format(base=f"{base}/v1"))
            token = share / "credentials" / "kimi-code.json"
            if credentials:
                token.write_text(json.dumps(_KIMI_TOKEN))
            else:
                token.unlink(missing_ok=True)
            env |= {"KIMI_SHARE_DIR": str(share), "KIMI_CLI_NO_AUTO_UPDATE": "1"}
        return cls(
            command,
            name=self.entry,
            env={**entry.env, **env},
            registry_name=self.entry,
            startup_timeout=START_TIMEOUT,
            ask_mode=entry.ask_mode or None,
            asks_permission=entry.asks_permission,
        )

    # --- what a turn asks of it ----------------------------------------------------------

    def read(self, path: Path, workspace: Path) -> Step:
        rel = str(path.relative_to(workspace))
        if not self.uses_server:
            return Step(_passthrough("read_text_file", path=rel))
        if self.family == "claude":
            return _tool("Read", file_path=str(path))
        if self.family == "codex":
            return _tool("exec_command", cmd=f"cat {rel}")
        if self.family == "kimi":
            return _tool("ReadFile", path=rel)
        return _tool("read_text_file", path=rel)

    def shell(self, command: str) -> Step:
        if not self.uses_server:
            return Step(_passthrough("execute", command=command))
        if self.family == "claude":
            return _tool("Bash", command=command, description="Run the test command")
        if self.family == "codex":
            return _tool("exec_command", cmd=command)
        if self.family == "kimi":
            return _tool("Shell", command=command)
        return _tool("execute", command=command)

    def write(self, path: Path, workspace: Path, content: str) -> Step:
        rel = str(path.relative_to(workspace))
        if not self.uses_server:
            return Step(_passthrough("write_text_file", path=rel, content=content))
        if self.family == "claude":
            return _tool("Write", file_path=str(path), content=content)
        if self.family == "codex":
            # Inside the workspace codex writes without asking: escalate so it must ask us.
            return _tool(
                "exec_command",
                cmd=f"printf %s {shlex.quote(content)} > {shlex.quote(rel)}",
                sandbox_permissions="require_escalated",
                justification="write the test file",
            )
        if self.family == "kimi":
            return _tool("WriteFile", path=rel, content=content)
        return _tool("write_text_file", path=rel, content=content)

    def say(self, text: str) -> Step:
        """A turn the model answers with ``text`` and no tool."""
        if not self.uses_server:
            return Step(f"***FIXED_RESPONSE {text}")
        return Step(f"Just reply: {text}", (TextReply(text=text),))


def _passthrough(tool: str, **arguments: Any) -> str:
    return f"***CALL_TOOL {tool} {json.dumps(arguments)}"


START_TIMEOUT = 60.0

_VERSION_KEYS = {
    "claude": "claude-agent-acp",
    "claude-node22": "claude-agent-acp-node22",
    "codex": "codex-acp",
}
_FAMILIES = {"claude-node22": "claude"}

PROFILES = (
    Profile("fast-agent", "fast-agent", uses_server=False),
    Profile("fast-agent-model", "fast-agent"),
    Profile("claude", "claude", asks_before_shell=True),
    # 0.101 starts in mode auto: it asks only once acphost selects mode default (ask, deny).
    Profile("claude-node22", "claude-node22", asks_when_allowed=False, steers=True),
    Profile("codex", "codex", asks_before_shell=False, steers=True),
    Profile("kimi", "kimi"),
)

_CODEX_CONFIG = """\
model = "fake-model"
model_provider = "fake"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false

[model_providers.fake]
name = "fake"
base_url = "{base}"
env_key = "FAKE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false
"""

_KIMI_CONFIG = """\
default_model = "fake"
telemetry = false

[providers.fake]
type = "openai_legacy"
base_url = "{base}"
api_key = "x"

[models.fake]
provider = "fake"
model = "fake-model"
max_context_size = 100000
"""

_KIMI_TOKEN = {
    "access_token": "offline",
    "refresh_token": "offline",
    "expires_at": 4102444800,  # 2100: never refreshed
    "scope": "offline",
    "token_type": "Bearer",
}
