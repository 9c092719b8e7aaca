"""The agent registry: built-in entries, the user's config file, finding and versioning agents,
and the typed error a missing agent gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acphost.agents import KNOWN_AGENTS, ACPAgent, AgentEntry, resolve_agent
from acphost.agents._builtin import BUILTIN_AGENTS
from acphost.agents._config import agents_dir, config_path, read_config
from acphost.agents._install import plan_install
from acphost.conversation import Conversation
from acphost.errors import AgentNotFound, UsageError
from agents import AGENTS_DIR, installed_versions

EXPECTED = {
    "demo",
    "echo",
    "claude",
    "claude-node22",
    "codex",
    "copilot",
    "pi",
    "gemini",
    "opencode",
    "goose",
    "kimi",
    "vibe",
    "fast-agent",
    "qwen",
    "openhands",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty world: no agents on PATH, a fresh HOME and ACPHOST_HOME."""
    root = tmp_path / "acphost-home"
    root.mkdir()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("ACPHOST_HOME", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("ACPHOST_AGENTS_DIR", raising=False)
    return root


def write_config(home: Path, text: str) -> Path:
    path = home / "agents.toml"
    path.write_text(text)
    # The registry re-reads on a changed mtime: make each write visibly newer.
    stamp = time.time() + len(text) % 97
    os.utime(path, (stamp, stamp))
    return path


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


# --- the built-in entries ----------------------------------------------------------------


def test_builtin_entries_say_how_to_run_install_and_configure() -> None:
    assert set(BUILTIN_AGENTS) == EXPECTED
    for entry in BUILTIN_AGENTS.values():
        assert entry.command, entry
        assert entry.title, entry
        assert entry.install, entry
        assert entry.source == "built in"
        if not entry.builtin:
            assert entry.credentials, f"{entry.name}: which variables hold its credentials?"
            assert entry.homepage.startswith("https://"), entry.name
        json.dumps(entry.describe())
    assert BUILTIN_AGENTS["gemini"].command == ("gemini", "--acp")
    assert BUILTIN_AGENTS["kimi"].python_module == "kimi_cli.cli"
    assert BUILTIN_AGENTS["fast-agent"].command[:3] == ("fast-agent", "--no-update-check", "acp")
    assert "ANTHROPIC_BASE_URL" in BUILTIN_AGENTS["claude"].base_urls
    assert BUILTIN_AGENTS["claude"].install == "acphost agents install claude"
    package = BUILTIN_AGENTS["claude"].package
    assert package is not None
    assert (package.manager, package.name) == ("npm", "@agentclientprotocol/claude-agent-acp")


def test_builtins_are_installed_and_versioned(home: Path) -> None:
    import acphost

    for name in ("demo", "echo"):
        entry = KNOWN_AGENTS[name]
        assert entry.installed()
        assert entry.version() == acphost.__version__


def test_a_missing_agent_names_its_install_command(home: Path, tmp_path: Path) -> None:
    entry = KNOWN_AGENTS["gemini"]
    assert not entry.installed()
    assert entry.executable() is None
    assert entry.version() is None
    with pytest.raises(AgentNotFound) as caught:
        resolve_agent("gemini")
    assert "Gemini CLI is not installed" in caught.value.message
    assert "npm install -g @google/gemini-cli" in caught.value.hint
    assert str(home / "agents.toml") in caught.value.hint
    assert caught.value.code == "agent_not_found"
    # The public API raises it at once, before any process or store work.
    with pytest.raises(AgentNotFound, match="npm install -g @google/gemini-cli"):
        Conversation("gemini", tmp_path, store=tmp_path / "db.sqlite")


def test_unknown_names_are_command_lines() -> None:
    agent = resolve_agent("my-agent --acp")
    assert isinstance(agent, ACPAgent)
    assert agent.command == ["my-agent", "--acp"]
    assert agent.registry_name is None


# --- finding programs --------------------------------------------------------------------


def test_acphosts_own_install_comes_before_path(home: Path, tmp_path: Path) -> None:
    managed = script(home / "agents" / "codex-acp" / "node_modules" / ".bin" / "codex-acp", "")
    on_path = script(Path(os.environ["PATH"]) / "codex-acp", "")
    entry = KNOWN_AGENTS["codex"]
    assert agents_dir() == home / "agents"
    assert entry.executable() == managed
    managed.unlink()
    assert entry.executable() == on_path
    on_path.unlink()
    user_bin = script(tmp_path / "user" / ".local" / "bin" / "codex-acp", "")  # ~ expanded
    assert entry.executable() == user_bin
    user_bin.chmod(0o644)  # not executable: not an install
    assert entry.executable() is None


def test_a_python_console_script_runs_as_a_module(home: Path, tmp_path: Path) -> None:
    kimi = script(
        Path(os.environ["PATH"]) / "kimi",
        f"#!{sys.executable}\nimport sys\nfrom kimi_cli.cli import main\nsys.exit(main())\n",
    )
    entry = KNOWN_AGENTS["kimi"]
    assert entry.launch_command() == [sys.executable, "-m", "kimi_cli.cli", "acp"]
    # Anything else (a native build, a shell wrapper) runs as it is.
    kimi.write_text("#!/bin/sh\nexec true\n")
    assert entry.launch_command() == [str(kimi), "acp"]


def test_claude_gets_is_sandbox_1_only_when_it_is_set(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(Path(os.environ["PATH"]) / "claude-agent-acp", "#!/bin/sh\n")
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    assert "IS_SANDBOX" not in KNOWN_AGENTS["claude"].agent().env
    monkeypatch.setenv("IS_SANDBOX", "yes")  # Claude Code refuses anything but "1"
    assert KNOWN_AGENTS["claude"].agent().env["IS_SANDBOX"] == "1"
    assert KNOWN_AGENTS["claude"].agent(env={"IS_SANDBOX": None}).env["IS_SANDBOX"] is None


def test_an_agent_that_needs_a_newer_node_runs_with_the_one_installed_beside_it(
    home: Path,
) -> None:
    entry = KNOWN_AGENTS["claude-node22"]
    package = entry.package
    assert package is not None
    assert package.runtime.startswith("node@22")
    prefix = home / "agents" / package.folder
    script(Path(os.environ["PATH"]) / "npm", "#!/bin/sh\n")  # planned, never run
    plan = plan_install(entry.name, package)
    (step,) = plan.steps
    assert step[-2:] == [package.runtime, package.spec]  # one npm install, both packages
    assert step[step.index("--prefix") + 1] == str(prefix)

    target = script(prefix / "node_modules" / package.name / "dist" / "index.js", "#!/bin/sh\n")
    (target.parent.parent / "package.json").write_text(json.dumps({"version": package.version}))
    bin_dir = prefix / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "claude-agent-acp").symlink_to(target)
    # Without its Node.js the install is not done, and the machine's node would run it.
    assert not plan_install(entry.name, package).done
    assert entry.launch_command() == [str(bin_dir / "claude-agent-acp")]
    node = script(bin_dir / "node", "#!/bin/sh\n")
    assert plan_install(entry.name, package).done
    assert entry.launch_command() == [str(node), str(target)]


def test_version_from_the_npm_package_without_running_it(home: Path) -> None:
    package = home / "agents" / "claude-agent-acp" / "node_modules" / "@scope" / "pkg"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "@scope/pkg", "version": "9.8.7"}))
    target = script(package / "dist" / "index.js", "#!/bin/sh\nexit 99\n")
    link = home / "agents" / "claude-agent-acp" / "node_modules" / ".bin" / "claude-agent-acp"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert KNOWN_AGENTS["claude"].version() == "9.8.7"


def test_version_asks_the_program_with_a_timeout(home: Path) -> None:
    bin_dir = Path(os.environ["PATH"])
    script(bin_dir / "goose", '#!/bin/sh\necho "goose version: 1.12.0-beta+2"\n')
    assert KNOWN_AGENTS["goose"].version() == "1.12.0-beta+2"
    script(bin_dir / "opencode", "#!/bin/sh\necho nothing useful\n")
    assert KNOWN_AGENTS["opencode"].version() is None
    script(bin_dir / "qwen", "#!/bin/sh\nexec sleep 30\n")
    started = time.monotonic()
    assert KNOWN_AGENTS["qwen"].version(timeout=0.5) is None
    assert time.monotonic() - started < 10


# --- the config file ---------------------------------------------------------------------


def test_config_path_follows_acphost_home_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("ACPHOST_HOME", str(tmp_path / "ah"))
    assert config_path() == tmp_path / "ah" / "agents.toml"
    monkeypatch.delenv("ACPHOST_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "acphost" / "agents.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert config_path() == tmp_path / "user" / ".config" / "acphost" / "agents.toml"
    monkeypatch.delenv("ACPHOST_AGENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert agents_dir() == tmp_path / "data" / "acphost" / "agents"
    monkeypatch.setenv("ACPHOST_AGENTS_DIR", str(tmp_path / "mine"))
    assert agents_dir() == tmp_path / "mine"


def test_config_adds_and_overrides_entries(home: Path) -> None:
    assert "mine" not in KNOWN_AGENTS
    path = write_config(
        home,
        f"""
        [agents.mine]
        command = "{sys.executable} -m acphost.testing.fake_agent echo"
        install = "it is already here"
        credentials = ["MINE_KEY"]

        [agents.claude]
        title = "Claude via my proxy"
        env = {{ ANTHROPIC_BASE_URL = "http://127.0.0.1:8080" }}
        """,
    )
    mine = KNOWN_AGENTS["mine"]
    assert mine.command == (sys.executable, "-m", "acphost.testing.fake_agent", "echo")
    assert mine.title == "mine"
    assert mine.credentials == ("MINE_KEY",)
    assert mine.source == str(path)
    assert mine.installed()
    claude = KNOWN_AGENTS["claude"]
    assert claude.title == "Claude via my proxy"
    assert claude.env == {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080"}
    assert claude.command == BUILTIN_AGENTS["claude"].command  # untouched fields stay
    assert list(KNOWN_AGENTS)[-1] == "mine"
    assert len(KNOWN_AGENTS) == len(BUILTIN_AGENTS) + 1

    # Env given by the config is merged onto the entry's own.
    write_config(home, '[agents.fast-agent]\nenv = { EXTRA = "1" }\n')
    assert "mine" not in KNOWN_AGENTS  # re-read: the file changed
    assert KNOWN_AGENTS["fast-agent"].env == {"OTEL_SDK_DISABLED": "true", "EXTRA": "1"}
    path.unlink()
    assert KNOWN_AGENTS["fast-agent"].env == {"OTEL_SDK_DISABLED": "true"}


def test_a_config_agent_runs_and_resumes_by_name(
    home: Path, tmp_path: Path, workspace: Path
) -> None:
    write_config(
        home,
        f'[agents.mine]\ncommand = ["{sys.executable}", "-m", "acphost.testing.fake_agent", '
        '"echo"]\nenv = { MINE = "1" }\n',
    )
    store = tmp_path / "db.sqlite"
    with Conversation("mine", workspace, store=store) as conversation:
        assert isinstance(conversation.agent, ACPAgent)
        assert conversation.agent.env == {"MINE": "1"}
        ended = conversation.run("hello there")
        assert ended is not None
        assert ended.stop_reason == "end_turn"
        assert "hello there" in conversation.state.messages[-1].text
        spec = conversation.agent.spec()
        assert spec["type"] == "registry"
        assert spec["name"] == "mine"
        assert spec["env_names"] == ["MINE"]  # names only: values are never stored
    with Conversation.resume(conversation.id, store=store) as again:
        assert isinstance(again.agent, ACPAgent)
        assert again.agent.registry_name == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agents.x]\ncommand = []\n", "command must be a non-empty list"),
        ("[agents.x]\ncommand = ['a']\ncomand = ['b']\n", "unknown key 'comand'"),
        ("[agents.x]\ncommand = ['a']\nenv = { A = 1 }\n", "env must be a table of strings"),
        ("[agents.x]\ncommand = ['a']\ncredentials = 'K'\n", "credentials must be a list"),
        ("[agents.x]\ntitle = 'no command'\n", "a new agent needs a command"),
        ("[agents]\nx = 1\n", "must be a table"),
        ("agents = 3\n", "must be a table of [agents.NAME] tables"),
        ("[agents.x\n", "cannot read the agent config"),
    ],
)
def test_a_malformed_config_is_a_usage_error(home: Path, text: str, message: str) -> None:
    path = write_config(home, text)
    with pytest.raises(UsageError) as caught:
        dict(KNOWN_AGENTS)
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_read_config_without_a_file_is_empty(tmp_path: Path) -> None:
    assert read_config(tmp_path / "nope.toml") == {}


def test_the_cli_lists_config_agents(home: Path, tmp_path: Path) -> None:
    write_config(home, '[agents.mine]\ncommand = ["/nonexistent/mine"]\ninstall = "get mine"\n')
    done = subprocess.run(
        [sys.executable, "-m", "acphost.cli", "agents", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "PATH": os.environ["PATH"] + os.pathsep + str(Path(sys.executable).parent),
        },
    )
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["mine"]["installed"] is False
    assert rows["mine"]["install"] == "get mine"
    assert set(rows) == EXPECTED | {"mine"}


# --- the agents installed here -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("claude", "claude-agent-acp"),
        ("claude-node22", "claude-agent-acp-node22"),
        ("codex", "codex-acp"),
        ("kimi", "kimi"),
        ("fast-agent", "fast-agent"),
    ],
)
def test_installed_agents_are_found_with_their_versions(
    name: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACPHOST_AGENTS_DIR", str(AGENTS_DIR))
    expected = installed_versions().get(key)
    entry = BUILTIN_AGENTS[name]
    if expected is None or not entry.installed():
        pytest.skip(f"{name} not installed in {AGENTS_DIR}; run `bash scripts/install-agents.sh`")
    assert entry.version(timeout=30) == expected
    command = entry.launch_command()
    if name == "kimi":  # never the bare `kimi` entry point
        assert command[1:] == ["-m", "kimi_cli.cli", "acp"]
    if name == "claude-node22":  # with the Node 22 installed beside it
        assert command[0].endswith("/node_modules/.bin/node")
        found = subprocess.run([command[0], "--version"], capture_output=True, text=True)
        assert found.stdout.startswith("v22."), found
    assert isinstance(entry.agent(), ACPAgent)
    assert isinstance(entry, AgentEntry)


# --- docs/agents.md ----------------------------------------------------------------------


def test_the_capability_table_is_rendered_from_observations(tmp_path: Path) -> None:
    observed = {
        "agents": {
            "codex": {
                "version": "2.6.0",
                "client_methods": ["session/request_permission"],
                "update_kinds": ["tool_call", "usage_update"],
                "cancel": {"stop_reason": "cancelled", "model_request_aborted": True},
                "load_session": True,
                "session_resume": False,
                "resume": "loaded",
                "auth_methods": ["api-key (agent)"],
                "auth_error": {"message": "Authentication required"},
                "usage": {"prompt_response_usage": True},
                "checks": {"read": "passed", "cancel": "passed", "steer": "passed"},
                "denied_stop_reason": "cancelled",
                "asking_mode": {"started_in": "auto", "selected": "default"},
                "capabilities": [
                    "loadSession",
                    "promptCapabilities.image",
                    "sessionCapabilities.fork",
                ],
                "steering": True,
            }
        }
    }
    source = tmp_path / "observations.json"
    source.write_text(json.dumps(observed))
    doc = tmp_path / "agents.md"
    doc.write_text(
        "# Agents\n<!-- BEGIN GENERATED: registry -->\nSTALE\n<!-- END GENERATED: registry -->\n"
        "text\n<!-- BEGIN GENERATED: observed -->\nSTALE\n<!-- END GENERATED: observed -->\nend\n"
    )
    script_path = Path(__file__).resolve().parent.parent / "scripts" / "agent_table.py"
    run = [sys.executable, str(script_path), "--observations", str(source), "--doc", str(doc)]
    printed = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True).stdout
    row = next(line for line in printed.splitlines() if line.startswith("| Codex"))
    assert "| 2.6.0 |" in row
    assert "`session/` request_permission" in row
    assert "stopReason `cancelled`, model request aborted" in row
    assert "`session/load`; after a host restart: loaded" in row
    assert "`api-key (agent)`; no credentials: `AuthRequired`" in row
    assert "| starts in `auto`; ask/deny select `default` |" in row
    assert "| `loadSession`<br>`sessionCapabilities.fork` | yes |" in row  # prompts: not news
    assert "read ✓" in row
    assert "steer ✓" in row
    assert "write –" in row
    assert "a denied permission ends the turn `cancelled`" in printed

    stale = subprocess.run([*run, "--check"], capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1
    subprocess.run([*run, "--write"], check=True, timeout=60)
    written = doc.read_text()
    assert "STALE" not in written
    assert row in written
    assert "| `claude` | `claude-agent-acp` |" in written  # the registry section
    assert written.startswith("# Agents\n")
    assert written.endswith("end\n")
    assert subprocess.run([*run, "--check"], timeout=60).returncode == 0
