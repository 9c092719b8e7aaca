"""The agents acphost knows out of the box (the data table behind ``KNOWN_AGENTS``)."""

from __future__ import annotations

import sys

from acphost.agents._entry import BUILT_IN, AgentEntry
from acphost.agents._install import Package

__all__ = ["BUILTIN_AGENTS"]

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
