"""ACP terminal authentication end to end: the host advertises it, ``acphost agents login``
runs the agent's own login on the terminal, the next run is let in, ``logout`` locks it again."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from pathlib import Path

import pytest

from acphost.agents import ACPAgent
from acphost.errors import UsageError
from acphost.testing import Scenario, fake_agent_command
from agents import PROFILES, AgentUnavailable, require
from cli_support import CLI, TIMEOUT, clean_env
from cli_support import acphost as cli


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The CLI with ``stdin`` typed into it (the agent's login reads it)."""
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=TIMEOUT
    )


def test_the_login_command_is_the_agents_own_with_the_methods_args_and_env() -> None:
    agent = ACPAgent(["agent-program", "--acp"], env={"KEEP": "1", "MODE": "acp"})
    method = {"type": "terminal", "id": "tui", "name": "Log in", "args": ["--login"],
              "env": {"MODE": "login"}}  # fmt: skip
    argv, env = agent.login_command(method)
    assert argv == ["agent-program", "--acp", "--login"]
    assert (env["KEEP"], env["MODE"]) == ("1", "login")
    with pytest.raises(UsageError, match="not a terminal login"):
        agent.login_command({"id": "oauth", "name": "OAuth"})


@pytest.fixture
def locked(tmp_path: Path) -> tuple[str, Path, dict[str, str]]:
    """A fake agent that needs its terminal login (password hunter2), its credentials file,
    and the CLI's environment."""
    credentials = tmp_path / "agent-home" / "credentials"
    scenario = (
        Scenario("locked", terminal_login={"credentials": str(credentials), "password": "hunter2"})
        .turn()
        .text("welcome in")
        .stop()
    )
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    return command, credentials, clean_env(tmp_path)


def test_login_lets_the_next_run_in_and_logout_locks_it_again(
    locked: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    command, credentials, env = locked
    run = ("run", "--command", command, "--cwd", str(tmp_path), "hi")

    refused = cli(*run, env=env)
    assert refused.returncode == 1
    assert refused.stderr.count("error auth_required") == 1, refused.stderr
    assert "acphost agents login" in refused.stderr  # the hint says how

    wrong = _cli("agents", "login", command, env=env, stdin="swordfish\n")
    assert wrong.returncode == 1, wrong.stderr
    assert "wrong password" in wrong.stdout
    assert "not logged in" in wrong.stderr
    assert not credentials.exists()

    right = _cli("agents", "login", command, env=env, stdin="hunter2\n")
    assert right.returncode == 0, right.stderr
    assert "password:" in right.stdout  # the agent's own prompt, on the user's terminal
    assert "--login" in right.stdout  # what runs is shown first
    assert "logged in to" in right.stdout
    assert "hunter2" not in right.stdout + right.stderr
    assert credentials.exists()

    welcomed = cli(*run, env=env)
    assert welcomed.returncode == 0, welcomed.stderr
    assert "welcome in" in welcomed.stdout

    out = _cli("agents", "logout", command, env=env)
    assert out.returncode == 0, out.stderr
    assert not credentials.exists()
    assert cli(*run, env=env).returncode == 1


def test_an_agent_without_a_terminal_login_or_logout_says_so(tmp_path: Path) -> None:
    scenario = Scenario("agent-auth", auth_required=True).turn().text("x").stop()
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    env = clean_env(tmp_path)
    login = _cli("agents", "login", command, env=env)
    assert login.returncode == 1
    assert "offers no terminal login (it offers: fake-login (agent))" in login.stderr
    chosen = _cli("agents", "login", command, "--method", "nope", env=env)
    assert chosen.returncode == 2
    assert "no terminal login 'nope'" in chosen.stderr
    logout = _cli("agents", "logout", command, env=env)
    assert logout.returncode == 1
    assert "error capability_missing" in logout.stderr


@pytest.mark.real_agent
@pytest.mark.parametrize("label", ["claude", "claude-node22"])
def test_claude_code_offers_terminal_logins_acphost_can_run(label: str, tmp_path: Path) -> None:
    """Claude Code offers its logins as terminal methods once the host advertises them: the
    command acphost would run is claude-agent-acp's own, with the method's arguments."""
    profile = next(p for p in PROFILES if p.label == label)
    try:
        profile.locate()
    except AgentUnavailable as exc:
        require(label, exc)
    agent = profile.agent(tmp_path, None, credentials=False)
    assert isinstance(agent, ACPAgent)
    methods = asyncio.run(asyncio.wait_for(agent.aauth_methods(), TIMEOUT))
    terminal = {m["id"]: m for m in methods if m.get("type") == "terminal"}
    assert "console-login" in terminal, methods
    argv, _ = agent.login_command(terminal["console-login"])
    assert argv == [*agent.command, *terminal["console-login"]["args"]]
    assert argv[-3:] == ["auth", "login", "--console"]
