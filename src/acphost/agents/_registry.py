"""Known ACP agents by name: how to launch them, and how to install them when missing."""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from acphost.agents._acp import ACPAgent
from acphost.agents._base import AgentBase

__all__ = ["KNOWN_AGENTS", "AgentEntry", "resolve_agent"]


@dataclass(frozen=True, slots=True)
class AgentEntry:
    name: str
    title: str
    command: tuple[str, ...]
    install: str
    credentials: tuple[str, ...] = ()
    notes: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def installed(self) -> bool:
        return shutil.which(self.command[0]) is not None

    def agent(self) -> ACPAgent:
        return ACPAgent(self.command, name=self.name, env=self.env, registry_name=self.name)


_FAKE = (sys.executable, "-m", "acphost.testing.fake_agent")

KNOWN_AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (
        AgentEntry("demo", "acphost's built-in demo agent", (*_FAKE, "demo"), "built in"),
        AgentEntry("echo", "acphost's echo agent", (*_FAKE, "echo"), "built in"),
        AgentEntry(
            "claude",
            "Claude Code (claude-agent-acp)",
            ("claude-agent-acp",),
            "npm install -g @agentclientprotocol/claude-agent-acp",
            ("ANTHROPIC_API_KEY",),
        ),
        AgentEntry(
            "codex",
            "Codex (codex-acp)",
            ("codex-acp",),
            "npm install -g @agentclientprotocol/codex-acp",
            ("OPENAI_API_KEY",),
        ),
        AgentEntry(
            "gemini",
            "Gemini CLI",
            ("gemini", "--acp"),
            "npm install -g @google/gemini-cli",
            ("GEMINI_API_KEY",),
        ),
        AgentEntry("opencode", "OpenCode", ("opencode", "acp"), "npm install -g opencode-ai"),
        AgentEntry("goose", "goose", ("goose", "acp"), "see https://block.github.io/goose/"),
        AgentEntry("kimi", "Kimi CLI", ("kimi", "acp"), "pip install kimi-cli"),
        AgentEntry("vibe", "Mistral Vibe", ("vibe-acp",), "pip install mistral-vibe"),
        AgentEntry("fast-agent", "fast-agent", ("fast-agent", "acp"), "pip install fast-agent-mcp"),
        AgentEntry("qwen", "Qwen Code", ("qwen", "--acp"), "npm install -g @qwen-code/qwen-code"),
    )
}


def resolve_agent(agent: AgentBase | str | Sequence[str]) -> AgentBase:
    """An agent from an instance, a registry name, or a command line."""
    if isinstance(agent, AgentBase):
        return agent
    if isinstance(agent, str):
        entry = KNOWN_AGENTS.get(agent)
        if entry is not None:
            return entry.agent()
        return ACPAgent(shlex.split(agent))
    return ACPAgent(list(agent))
