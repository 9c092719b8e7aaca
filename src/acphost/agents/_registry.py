"""Known ACP agents by name: how to launch them, install them, and tell they are there.

``Conversation(agent="claude")`` and ``acphost agents`` read :data:`KNOWN_AGENTS`: the
built-in entries below, merged with the user's config file (see :mod:`._config`) each time
it changed. Checking an entry is cheap (a file lookup); asking an agent its version runs it,
so that happens only in :meth:`AgentEntry.version`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acphost.agents._acp import ACPAgent
from acphost.agents._base import AgentBase
from acphost.agents._config import agents_dir, config_path, read_config
from acphost.agents._install import Package
from acphost.errors import AgentNotFound, UsageError

__all__ = ["BUILTIN_AGENTS", "KNOWN_AGENTS", "AgentEntry", "resolve_agent"]

BUILT_IN = "built in"
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.]+)*")


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One agent the registry knows.

    ``command`` is the launch command line; its program is looked for first in the
    ``locations`` under acphost's own agents directory (``{agents}``, where
    ``scripts/install-agents.sh`` installs), then on ``PATH``, then in the other
    ``locations`` (``~`` expanded). ``python_module`` runs a found Python console script as
    ``<its python> -m MODULE`` instead (for agents whose entry point does more than serve
    ACP). ``credentials`` and ``base_urls`` name the variables the agent reads; ``env`` is
    added to its environment. ``normalize_env`` rewrites variables that are set to a value the
    agent accepts (Claude Code exits on any ``IS_SANDBOX`` but ``1``). ``ask_mode`` is the
    session mode in which the agent asks the client before acting (selected when the
    permission policy decides); ``asks_permission=False`` marks an agent that never asks.
    """

    name: str
    title: str
    command: tuple[str, ...]
    install: str
    credentials: tuple[str, ...] = ()
    base_urls: tuple[str, ...] = ()
    notes: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    default_mode: str = ""
    homepage: str = ""
    locations: tuple[str, ...] = ()
    python_module: str = ""
    normalize_env: Mapping[str, str] = field(default_factory=dict)
    source: str = "built in"
    package: Package | None = None
    ask_mode: str = ""
    asks_permission: bool | None = None

    # --- finding it ----------------------------------------------------------------------

    @property
    def builtin(self) -> bool:
        """Whether the agent ships with acphost (the demo agent): nothing to install."""
        return self.install == BUILT_IN

    def _candidates(self) -> Iterator[Path]:
        program = self.command[0]
        if os.sep in program:
            yield Path(program).expanduser()
            return
        managed = str(agents_dir())
        mine = [loc for loc in self.locations if loc.startswith("{agents}")]
        for location in mine:
            yield Path(location.replace("{agents}", managed, 1))
        on_path = shutil.which(program)
        if on_path:
            yield Path(on_path)
        for location in self.locations:
            if location not in mine:
                yield Path(location).expanduser()

    def executable(self) -> Path | None:
        """The program that would run, or ``None`` when it is not installed."""
        for candidate in self._candidates():
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        return None

    def installed(self) -> bool:
        """Whether the agent's executable can be found (on PATH or in acphost's agents folder)."""
        return self.executable() is not None

    def launch_command(self) -> list[str]:
        """The full command line to start it; raises :class:`AgentNotFound` with the install
        command when it is not installed."""
        program = self.executable()
        if program is None:
            raise self.not_found()
        args = list(self.command[1:])
        if self.python_module:
            python = _python_of(program)
            if python is not None:
                return [python, "-m", self.python_module, *args]
        node = _node_beside(program)
        if node is not None:
            return [str(node), str(program.resolve()), *args]
        return [str(program), *args]

    def not_found(self) -> AgentNotFound:
        """The error for an agent that is not installed: where it looked, how to install it."""
        places = [self.command[0]]
        places += [loc.replace("{agents}", str(agents_dir()), 1) for loc in self.locations]
        return AgentNotFound(
            f"{self.title} is not installed: looked for {', '.join(places)}",
            hint=f"install it with `{self.install}`, or set its command in {config_path()}",
        )

    def version(self, timeout: float = 10.0) -> str | None:
        """The installed version: the npm package's own record, else ``--version`` run with
        a timeout. ``None`` when not installed or it would not say."""
        if self.builtin:
            from acphost import __version__

            return __version__
        program = self.executable()
        if program is None:
            return None
        from_npm = _npm_version(program)
        if from_npm:
            return from_npm
        argv = self.launch_command()
        argv = [*argv[: len(argv) - len(self.command) + 1], "--version"]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env, "NO_COLOR": "1"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = _VERSION.search(done.stdout or done.stderr)
        return match.group(0) if match else None

    # --- using it ------------------------------------------------------------------------

    def agent(self, *, env: Mapping[str, str | None] | None = None, **options: Any) -> ACPAgent:
        """An :class:`ACPAgent` running this entry; ``env`` adds to the entry's ``env``, and
        ``options`` go to :class:`ACPAgent` (``startup_timeout``, ``mcp_servers``...)."""
        merged: dict[str, str | None] = {**self.env, **(env or {})}
        for name, value in self.normalize_env.items():
            current = merged[name] if name in merged else os.environ.get(name)
            if current is not None and current != value:
                merged[name] = value
        return ACPAgent(
            self.launch_command(),
            name=self.name,
            env=merged,
            registry_name=self.name,
            ask_mode=self.ask_mode or None,
            asks_permission=self.asks_permission,
            **options,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (no version: that would run the agent)."""
        program = self.executable()
        return {
            "name": self.name,
            "title": self.title,
            "installed": program is not None,
            "executable": str(program) if program else None,
            "command": list(self.command),
            "install": self.install,
            "credentials": list(self.credentials),
            "base_urls": list(self.base_urls),
            "env": dict(self.env),
            "default_mode": self.default_mode,
            "notes": self.notes,
            "homepage": self.homepage,
            "package": None if self.package is None else dataclasses.asdict(self.package),
            "source": self.source,
            "ask_mode": self.ask_mode or None,
            "asks_permission": self.asks_permission,
            "permission_note": self.permission_note,
        }

    @property
    def permission_note(self) -> str:
        """Whether a permission policy can hold the agent back, in words."""
        if self.asks_permission is False:
            return "never asks before acting: a deny or ask policy cannot hold it back"
        if self.ask_mode:
            return f"asks in mode {self.ask_mode!r} (selected for ask, deny or a callback)"
        return ""


def _python_of(script: Path) -> str | None:
    """The interpreter of a Python console script (its ``#!`` line), if it is one."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and "python" in os.path.basename(words[0]) and os.path.isabs(words[0]):
        return words[0]
    return None


def _node_beside(program: Path) -> Path | None:
    """The Node.js installed in the same npm prefix as ``program`` (a :class:`Package`
    ``runtime``): it runs the agent instead of the machine's older ``node``."""
    if program.parent.name != ".bin":
        return None
    node = program.parent / "node"
    return node if node.is_file() and os.access(node, os.X_OK) and program.name != "node" else None


def _npm_version(program: Path) -> str | None:
    """The version in the ``package.json`` of the npm package a program belongs to."""
    try:
        real = program.resolve()
    except OSError:
        return None
    for parent in list(real.parents)[:6]:
        manifest = parent / "package.json"
        if parent.parent.name == "node_modules" or parent.parent.parent.name == "node_modules":
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            version = data.get("version") if isinstance(data, dict) else None
            return version if isinstance(version, str) else None
    return None


# --- the built-in entries ----------------------------------------------------------------

_FAKE = (sys.executable, "-m", "acphost.testing.fake_agent")

BUILTIN_AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (
        AgentEntry(
            "demo",
            "acphost's built-in demo agent",
            (*_FAKE, "demo"),
            BUILT_IN,
            notes="a scripted fake agent: shows every kind of update without a model",
        ),
        AgentEntry(
            "echo",
            "acphost's echo agent",
            (*_FAKE, "echo"),
            BUILT_IN,
            notes="answers each prompt with its own text",
        ),
        AgentEntry(
            "claude",
            "Claude Code (claude-agent-acp)",
            ("claude-agent-acp",),
            "acphost agents install claude",
            credentials=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
            base_urls=("ANTHROPIC_BASE_URL",),
            default_mode="default",
            ask_mode="default",
            normalize_env={"IS_SANDBOX": "1"},
            package=Package(
                "npm", "@agentclientprotocol/claude-agent-acp", "0.49.0", "claude-agent-acp"
            ),
            homepage="https://github.com/agentclientprotocol/claude-agent-acp",
            locations=(
                "{agents}/claude-agent-acp/node_modules/.bin/claude-agent-acp",
                "~/.local/bin/claude-agent-acp",
            ),
            notes=(
                "Bundles the native Claude Code binary; 0.49 is the last release for Node 20 "
                "(later ones need Node >= 22). Runs Read/Bash/Write itself (no client "
                "fs/terminal) and asks permission for writes and non-read-only commands. "
                "Reports usage_update with cost. "
                "As root, bypassPermissions mode needs IS_SANDBOX=1 and any other value of "
                "IS_SANDBOX makes session/new fail (acphost passes 1 when it is set). "
                "Quiet offline with "
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 "
                "DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1."
            ),
        ),
        AgentEntry(
            "claude-node22",
            "Claude Code, newest (claude-agent-acp on Node 22)",
            ("claude-agent-acp",),
            "acphost agents install claude-node22",
            credentials=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
            base_urls=("ANTHROPIC_BASE_URL",),
            default_mode="auto",
            ask_mode="default",
            normalize_env={"IS_SANDBOX": "1"},
            package=Package(
                "npm",
                "@agentclientprotocol/claude-agent-acp",
                "0.101.0",
                "claude-agent-acp-node22",
                runtime="node@22.23.3",
            ),
            homepage="https://github.com/agentclientprotocol/claude-agent-acp",
            locations=("{agents}/claude-agent-acp-node22/node_modules/.bin/claude-agent-acp",),
            notes=(
                "The newest adapter; it needs Node >= 22, so acphost installs npm's node@22 "
                "beside it and runs it with that. Starts in mode auto (Claude approves its own "
                "tool calls and never asks): acphost selects mode default, which asks, when the "
                "permission policy decides. Same environment as claude."
            ),
        ),
        AgentEntry(
            "codex",
            "Codex (codex-acp)",
            ("codex-acp",),
            "acphost agents install codex",
            credentials=("OPENAI_API_KEY", "CODEX_API_KEY"),
            base_urls=("OPENAI_BASE_URL",),
            default_mode="agent",
            package=Package("npm", "@agentclientprotocol/codex-acp", "2.6.0", "codex-acp"),
            homepage="https://github.com/agentclientprotocol/codex-acp",
            locations=(
                "{agents}/codex-acp/node_modules/.bin/codex-acp",
                "~/.local/bin/codex-acp",
            ),
            notes=(
                "Bundles the native codex binary. Configured by $CODEX_HOME/config.toml "
                "(model_providers for a custom base URL). Set INITIAL_AGENT_MODE="
                "workspace-write for approvals to reach the client (otherwise a model-based "
                "reviewer decides). Runs commands itself and asks only for escalated ones; "
                "names terminals the client never created and streams their output in _meta. "
                "Ignores stdin EOF: it is terminated, with its whole process group. Its only "
                "way to refuse a permission ends the turn (stopReason cancelled)."
            ),
        ),
        AgentEntry(
            "gemini",
            "Gemini CLI",
            ("gemini", "--acp"),
            "npm install -g @google/gemini-cli",
            credentials=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
            base_urls=("GOOGLE_GEMINI_BASE_URL",),
            homepage="https://github.com/google-gemini/gemini-cli",
            locations=("~/.local/bin/gemini",),
            notes="Older releases spell the flag --experimental-acp.",
        ),
        AgentEntry(
            "opencode",
            "OpenCode",
            ("opencode", "acp"),
            "npm install -g opencode-ai",
            credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENCODE_API_KEY"),
            homepage="https://opencode.ai",
            locations=("~/.opencode/bin/opencode", "~/.local/bin/opencode"),
            notes="Providers and base URLs come from opencode.json ($OPENCODE_CONFIG).",
        ),
        AgentEntry(
            "goose",
            "goose",
            ("goose", "acp"),
            "see https://block.github.io/goose/docs/getting-started/installation",
            credentials=("OPENAI_API_KEY", "ANTHROPIC_API_KEY"),
            base_urls=("OPENAI_HOST", "ANTHROPIC_HOST"),
            homepage="https://block.github.io/goose/",
            locations=("~/.local/bin/goose",),
            notes="Provider and model from GOOSE_PROVIDER/GOOSE_MODEL or `goose configure`.",
        ),
        AgentEntry(
            "kimi",
            "Kimi CLI",
            ("kimi", "acp"),
            "acphost agents install kimi  (a Python 3.13 venv)",
            credentials=("KIMI_API_KEY",),
            base_urls=("KIMI_BASE_URL",),
            homepage="https://github.com/MoonshotAI/kimi-cli",
            locations=("{agents}/kimi/venv/bin/kimi", "~/.local/bin/kimi"),
            python_module="kimi_cli.cli",
            default_mode="default",
            package=Package("pip", "kimi-cli", "1.52.0", "kimi", python=(3, 13)),
            notes=(
                "Run as `python -m kimi_cli.cli acp` (the `kimi` entry point may try to "
                "download an installer). Configured by $KIMI_SHARE_DIR/config.toml; refuses "
                "session/new (auth required) until $KIMI_SHARE_DIR/credentials/kimi-code.json "
                "exists. Uses the client's fs and terminal methods, and sends terminal/create "
                "with a whole shell command line and no args."
            ),
        ),
        AgentEntry(
            "vibe",
            "Mistral Vibe",
            ("vibe-acp",),
            "pip install mistral-vibe  (or: uv tool install mistral-vibe)",
            credentials=("MISTRAL_API_KEY",),
            homepage="https://github.com/mistralai/mistral-vibe",
            locations=("~/.local/bin/vibe-acp",),
            notes="Configured by $VIBE_HOME/config.toml (~/.vibe).",
        ),
        AgentEntry(
            "fast-agent",
            "fast-agent",
            ("fast-agent", "--no-update-check", "acp", "--shell"),
            "acphost agents install fast-agent  (a Python >= 3.12 venv)",
            credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GENERIC_API_KEY"),
            base_urls=("GENERIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"),
            homepage="https://fast-agent.ai",
            locations=("{agents}/fast-agent/venv/bin/fast-agent", "~/.local/bin/fast-agent"),
            env={"OTEL_SDK_DISABLED": "true"},
            default_mode="agent",
            package=Package("pip", "fast-agent-mcp", "0.10.46", "fast-agent", python=(3, 12)),
            notes=(
                "Add `--model passthrough` (the prompt scripts the turn: ***CALL_TOOL <tool> "
                "<json>) or `--model generic.<name>` with GENERIC_BASE_URL for any Chat "
                "Completions server. `--no-home` breaks session/new. Asks permission for every "
                "tool, then uses the client's fs and terminal methods. Sends empty "
                "agent_message_chunks carrying _meta."
            ),
        ),
        AgentEntry(
            "qwen",
            "Qwen Code",
            ("qwen", "--acp"),
            "npm install -g @qwen-code/qwen-code",
            credentials=("OPENAI_API_KEY", "DASHSCOPE_API_KEY"),
            base_urls=("OPENAI_BASE_URL",),
            homepage="https://github.com/QwenLM/qwen-code",
            locations=("~/.local/bin/qwen",),
            ask_mode="default",
            notes=(
                "A Gemini CLI fork; older releases spell the flag --experimental-acp. 0.24 "
                "starts in mode auto (it approves its own tool calls); default asks, yolo never."
            ),
        ),
        AgentEntry(
            "copilot",
            "GitHub Copilot CLI",
            ("copilot", "--acp", "--stdio"),
            "npm install -g @github/copilot",
            credentials=("COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"),
            homepage="https://docs.github.com/en/copilot/reference/copilot-cli-reference/acp-server",
            locations=("~/.local/bin/copilot",),
            notes="ACP support is in public preview; `--port N` serves TCP instead of stdio.",
        ),
        AgentEntry(
            "pi",
            "pi (pi-acp)",
            ("pi-acp",),
            "npm install -g pi-acp @mariozechner/pi-coding-agent",
            credentials=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"),
            homepage="https://github.com/svkozak/pi-acp",
            locations=("~/.local/bin/pi-acp",),
            asks_permission=False,
            notes="An ACP adapter for the pi coding agent, which has no permission system.",
        ),
        AgentEntry(
            "openhands",
            "OpenHands",
            ("openhands", "acp"),
            "uv tool install openhands  (Python >= 3.12)",
            credentials=("LLM_API_KEY",),
            base_urls=("LLM_BASE_URL",),
            homepage="https://github.com/OpenHands/OpenHands-CLI",
            locations=("~/.local/bin/openhands",),
            notes="Model from LLM_MODEL or its settings (~/.openhands).",
        ),
    )
}


def _merge(base: AgentEntry | None, name: str, fields: dict[str, Any], source: str) -> AgentEntry:
    if base is None:
        if "command" not in fields:
            raise UsageError(f"{source}: [agents.{name}] a new agent needs a command")
        fields = {"title": name, "install": "see the agent's documentation", **fields}
        return AgentEntry(name=name, source=source, **fields)
    if "env" in fields:
        fields = {**fields, "env": {**base.env, **fields["env"]}}
    return dataclasses.replace(base, source=source, **fields)


class _Registry(Mapping[str, AgentEntry]):
    """The built-ins merged with the config file, re-read whenever the file changed."""

    def __init__(self, builtins: Mapping[str, AgentEntry]) -> None:
        self._builtins = builtins
        self._key: tuple[str, float | None] | None = None
        self._entries: dict[str, AgentEntry] = dict(builtins)

    def _current(self) -> dict[str, AgentEntry]:
        path = config_path()
        try:
            mtime: float | None = path.stat().st_mtime
        except OSError:
            mtime = None
        key = (str(path), mtime)
        if key != self._key:
            entries = dict(self._builtins)
            if mtime is not None:
                for name, fields in read_config(path).items():
                    entries[name] = _merge(entries.get(name), name, fields, str(path))
            self._entries, self._key = entries, key
        return self._entries

    def __getitem__(self, name: str) -> AgentEntry:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"<KNOWN_AGENTS {', '.join(self)}>"


KNOWN_AGENTS: Mapping[str, AgentEntry] = _Registry(BUILTIN_AGENTS)
"""Every agent that can be run by name: the built-ins plus the user's ``agents.toml``.

Read live: an edit of the config file shows on the next lookup.
"""


def resolve_agent(agent: AgentBase | str | Sequence[str]) -> AgentBase:
    """An agent from an instance, a registry name, or a command line.

    A registry name whose program is missing raises :class:`AgentNotFound` naming the
    install command, before anything is started.
    """
    if isinstance(agent, AgentBase):
        return agent
    if isinstance(agent, str):
        entry = KNOWN_AGENTS.get(agent)
        if entry is not None:
            return entry.agent()
        return ACPAgent(shlex.split(agent))
    return ACPAgent(list(agent))
