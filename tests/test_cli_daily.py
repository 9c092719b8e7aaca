"""The command line as a daily driver (issue 13): chat, continue, export, delete, install, and
the edges a newcomer hit. Every test runs ``python -m acphost.cli`` for real; each defect's
test failed before its fix."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import acphost
from acphost.testing import Scenario, diff_content, fake_agent_command
from cli_support import CLI, TIMEOUT, chat_args, clean_env, conversation_id, running
from cli_support import acphost as cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


def _state(cid: str, store: str, env: dict[str, str]) -> dict[str, object]:
    shown = cli("conversations", "show", cid, "--store", store, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    state: dict[str, object] = json.loads(shown.stdout)["state"]
    return state


def _chat(args: list[str], lines: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "chat", *args],
        env=env,
        input=lines,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# --- item 9: small edges -------------------------------------------------------------------


def test_version_has_one_source(env: dict[str, str]) -> None:
    done = cli("--version", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"acphost {acphost.__version__}"
    assert importlib.metadata.version("acphost") == acphost.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]


def test_an_empty_prompt_is_a_usage_error(workspace: Path, env: dict[str, str], store: str) -> None:
    for prompt in ("", "   "):
        done = cli(
            "run", "--agent", "demo", "--cwd", str(workspace), "--store", store, prompt, env=env
        )
        assert done.returncode == 2, done.stderr
        assert "the prompt is empty" in done.stderr
    piped = subprocess.run(
        [*CLI, "run", "--agent", "demo", "--cwd", str(workspace), "--store", store, "-"],
        env=env,
        input="\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert piped.returncode == 2, piped.stderr
    assert not Path(store).exists()  # nothing was started, nothing stored


def test_list_status_is_validated(env: dict[str, str], store: str) -> None:
    done = cli("conversations", "list", "--status", "bogus", "--store", store, env=env)
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr
    assert "finished" in done.stderr


# --- items 3, 4, 7: model, the id in --json, errors ----------------------------------------


def test_model_without_mode(workspace: Path, env: dict[str, str], store: str) -> None:
    args = ["run", "--agent", "demo", "--cwd", str(workspace), "--allow", "--store", store]
    done = cli(*args, "--model", "fake-large", "hi", env=env)
    assert done.returncode == 0, done.stderr
    assert "model: fake-large" in done.stdout
    assert _state(conversation_id(done.stdout), store, env)["model"] == "fake-large"
    wrong = cli(*args, "--model", "gpt-9", "hi", env=env)
    assert wrong.returncode == 2
    assert wrong.stderr.count("error usage_error") == 1
    assert "offers no model 'gpt-9'" in wrong.stderr
    assert "its models: fake-small, fake-large" in wrong.stderr
    assert "state." not in wrong.stderr  # CLI words, not the Python API's


def test_an_exited_agent_is_reported_once_with_its_stderr(
    tmp_path: Path, env: dict[str, str]
) -> None:
    scenario = Scenario("crash").turn().stderr("boom: the model key is wrong").crash(3)
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    done = cli("run", "--command", command, "--cwd", str(tmp_path), "hi", env=env)
    assert done.returncode == 1
    assert done.stderr.count("error agent_exited") == 1, done.stderr
    assert "boom: the model key is wrong" in done.stderr
    assert "see the stderr tail" not in done.stderr + done.stdout
    assert "agent_exited" not in done.stdout.replace("stop reason: error (agent_exited)", "")


def test_auth_required_names_the_registry_credentials(tmp_path: Path, env: dict[str, str]) -> None:
    scenario = Scenario("locked", auth_required=True).turn().text("never").stop()
    command = fake_agent_command(scenario, directory=tmp_path)
    home = Path(env["ACPHOST_HOME"])
    home.mkdir()
    (home / "agents.toml").write_text(f"[agents.claude]\ncommand = {json.dumps(command)}\n")
    done = cli("run", "--agent", "claude", "--cwd", str(tmp_path), "hi", env=env)
    assert done.returncode == 1
    assert done.stderr.count("error auth_required") == 1, done.stderr
    assert "ANTHROPIC_API_KEY" in done.stderr


# --- continue, export, delete --------------------------------------------------------------


def test_run_continue_adds_a_turn(workspace: Path, env: dict[str, str], store: str) -> None:
    first = cli("run", "--agent", "echo", "--cwd", str(workspace), "--store", store, "one", env=env)
    assert first.returncode == 0, first.stderr
    cid = conversation_id(first.stdout)
    again = cli("run", "--continue", cid[:8], "--store", store, "--json", "two", env=env)
    assert again.returncode == 0, again.stderr
    head = json.loads(again.stdout.splitlines()[0])
    assert head == {**head, "type": "conversation", "id": cid, "agent": "echo"}
    state = _state(cid, store, env)
    assert state["turns"] == 2
    assert state["status"] == "finished"
    missing = cli("run", "--continue", "nope", "--store", store, "x", env=env)
    assert missing.returncode == 1
    assert "acphost conversations list" in missing.stderr


def test_export_and_delete(
    workspace: Path, env: dict[str, str], store: str, tmp_path: Path
) -> None:
    run = cli(
        "run",
        "--agent",
        "demo",
        "--cwd",
        str(workspace),
        "--allow",
        "--store",
        store,
        "hi",
        env=env,
    )
    cid = conversation_id(run.stdout)
    exported = cli("conversations", "export", cid, "--store", store, env=env)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len(events) == _state(cid, store, env)["events"]
    replayed = cli("replay", cid, "--json", "--store", store, env=env)
    assert [json.loads(x) for x in replayed.stdout.splitlines()] == events
    target = tmp_path / "out.jsonl"
    to_file = cli("conversations", "export", cid, "-o", str(target), "--store", store, env=env)
    assert to_file.returncode == 0, to_file.stderr
    assert target.read_text() == exported.stdout

    unasked = cli("conversations", "delete", cid, "--store", store, env=env)
    assert unasked.returncode == 2
    assert "--yes" in unasked.stderr
    deleted = cli("conversations", "delete", cid[:6], "--yes", "--store", store, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {cid}" in deleted.stdout
    gone = cli("conversations", "show", cid, "--store", store, env=env)
    assert gone.returncode == 1
    assert "conversation_not_found" in gone.stderr
    assert "no conversations" in cli("conversations", "list", "--store", store, env=env).stdout


# --- chat ----------------------------------------------------------------------------------


def test_chat_three_turns_then_continue_by_id(
    workspace: Path, env: dict[str, str], store: str
) -> None:
    args = ["chat", "--agent", "demo", "--cwd", str(workspace), "--allow", "--store", store]
    with running(args, env, subprocess.PIPE) as (proc, output):
        # typed ahead: whatever comes while a turn runs is handled then, in order
        assert proc.stdin is not None
        proc.stdin.write(b"Summarise\n\n/mode\n/mode ask\n/model fake-large\nsecond\n")
        proc.stdin.flush()
        output.wait_for("stop reason: end_turn", count=2)
        proc.stdin.write(b"/cost\nthird\n/bogus\n/quit\nnever sent\n")
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr.decode()
    out = output.data.decode() + stdout.decode()
    assert out.count("stop reason: end_turn") == 3
    assert "> Summarise" in out
    assert "> third" in out
    assert "never sent" not in out
    assert "2 turns · " in out  # /cost after two turns
    assert "unknown command /bogus" in out
    assert "* code" in out  # /mode lists the modes, the current one marked
    assert "mode: ask" in out
    assert "model: fake-large" in out
    cid = conversation_id(out)
    assert f"continue with: acphost chat --continue {cid} --store {store}" in out
    state = _state(cid, store, env)
    assert (state["turns"], state["mode"], state["model"]) == (3, "ask", "fake-large")

    more = _chat(["--continue", cid, "--store", store], "fourth\n", env)  # EOF leaves
    assert more.returncode == 0, more.stderr
    assert "continuing demo" in more.stdout
    assert "> fourth" in more.stdout
    state = _state(cid, store, env)
    assert state["turns"] == 4
    assert state["last_stop_reason"] == "end_turn"


def _asking_command(tmp_path: Path) -> str:
    """An agent that asks to run a command and to write a file, then reports what it was told."""
    diff = diff_content(str(tmp_path / "a.txt"), "new line\n", "old line\n")
    scenario = (
        Scenario("asking")
        .turn()
        .tool_call(
            "t1",
            title="Run the tests",
            kind="execute",
            status="pending",
            raw_input={"command": ["pytest", "-q", "tests/a b.py"]},
        )
        .permission("t1", title="Run the tests", otherwise="continue")
        .tool_update("t1", status="completed")
        .tool_call("t2", title="Edit a.txt", kind="edit", status="pending")
        .permission("t2", title="Edit a.txt", otherwise="continue")
        .step(  # this request carries its diff itself: the prompt must show it in full
            "permission",
            tool_call_id="t2",
            title="Edit a.txt again",
            otherwise="continue",
            tool_call={"content": [diff]},
        )
        .text("asked")
        .stop()
    )
    return shlex.join(fake_agent_command(scenario, directory=tmp_path))


def test_chat_at_a_terminal(
    tmp_path: Path, env: dict[str, str], store: str, terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    command = _asking_command(tmp_path)
    with running(chat_args(command, tmp_path, store), env, slave) as (proc, output):
        output.wait_for("you> ")
        os.write(master, b"/help\n")
        output.wait_for("/pending")
        os.write(master, b"go\n")
        text = output.wait_for("Allow Run the tests? [y/N/a(lways)]")
        assert "$ pytest -q 'tests/a b.py'" in text  # the full command, before the question
        os.write(master, b"y\n")
        output.wait_for("Allow Edit a.txt? [y/N/a(lways)]")
        os.write(master, b"n\n")
        output.wait_for("Allow Edit a.txt again?")
        os.write(master, b"n\n")
        output.wait_for("stop reason: end_turn")
        os.write(master, b"/cost\n")
        output.wait_for("1 turn · ")
        os.write(master, b"/pending\n")
        output.wait_for("no permission request or question is waiting\nyou> ")
        proc.send_signal(signal.SIGINT)  # at the prompt: a note, not a leave
        output.wait_for("press Ctrl-C again")
        os.write(master, b"\x04")  # Ctrl-D leaves
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    text = output.data.decode() + out.decode()
    assert "→ allowed once (by callback)" in text
    assert "→ denied (by callback)" in text
    assert "+new line" in text.split("Allow Edit a.txt again?")[0].split("Allow Edit a.txt?")[1]
    assert "continue with: acphost chat --continue" in text


def test_chat_ctrl_c_cancels_the_turn_and_goes_on(
    tmp_path: Path, env: dict[str, str], store: str, terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    scenario = (
        Scenario("slow")
        .turn()
        .tool_call("t1", title="Long task", kind="execute", status="in_progress")
        .sleep(60)
        .stop()
        .turn()
        .text("second turn")
        .stop()
    )
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    with running(chat_args(command, tmp_path, store), env, slave) as (proc, output):
        output.wait_for("you> ")
        os.write(master, b"go\n")
        output.wait_for("Long task")
        proc.send_signal(signal.SIGINT)
        output.wait_for("stop reason: cancelled")
        os.write(master, b"again\n")
        output.wait_for("second turn")
        os.write(master, b"/quit\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "interrupting" in err.decode()
    cid = conversation_id(output.data.decode() + out.decode())
    state = _state(cid, store, env)
    assert state["turns"] == 2
    assert state["last_stop_reason"] == "end_turn"


# --- item 8: agents, where they are installed ------------------------------------------------


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_install_goes_where_the_registry_looks(env: dict[str, str]) -> None:
    env.pop("ACPHOST_AGENTS_DIR", None)
    where = Path(env["ACPHOST_HOME"]) / "agents" / "claude-agent-acp"
    planned = cli("agents", "install", "claude", "--dry-run", env=env)
    assert planned.returncode == 0, planned.stderr
    assert f"@agentclientprotocol/claude-agent-acp@0.49.0 (npm) into {where}" in planned.stdout
    assert f"install --prefix {where} " in planned.stdout
    script = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-agents.sh"), "--dry-run", "claude"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout == planned.stdout  # one place, one pin
    assert not where.exists()  # a dry run runs nothing
    other = cli("agents", "install", "gemini", "nope", env=env)
    assert other.returncode == 1
    assert "npm install -g @google/gemini-cli" in other.stderr
    assert "acphost installs: claude, claude-node22, codex, kimi, fast-agent" in other.stderr


def test_install_of_an_installed_agent_is_quick_and_seen(env: dict[str, str]) -> None:
    from agents import AGENTS_DIR, installed_versions

    if installed_versions().get("fast-agent") != "0.10.46":
        pytest.skip(f"fast-agent is not installed in {AGENTS_DIR}")
    env["ACPHOST_AGENTS_DIR"] = str(AGENTS_DIR)
    done = cli("agents", "install", "fast-agent", env=env)
    assert done.returncode == 0, done.stderr
    assert "fast-agent 0.10.46 already installed" in done.stdout
    rows = {r["name"]: r for r in json.loads(cli("agents", "--json", env=env).stdout)}
    assert rows["fast-agent"]["installed"] is True


# --- demo.sh -------------------------------------------------------------------------------


def test_demo_keeps_the_users_store_untouched(tmp_path: Path, env: dict[str, str]) -> None:
    del env["ACPHOST_HOME"]
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data" / "acphost").exists()
    (demo,) = tmp_path.glob("acphost-demo.*")
    store = str(demo / "acphost.db")
    assert _state(conversation_id(done.stdout), store, env)["turns"] == 1
    assert f"--store {store}" in done.stderr


# --- serve ---------------------------------------------------------------------------------


def test_serve_has_the_servers_options_and_only_serve_imports_fastapi(
    env: dict[str, str],
) -> None:
    helped = cli("serve", "--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert "usage: acphost serve" in helped.stdout
    assert "--api-key-file" in helped.stdout
    refused = cli("serve", "--host", "0.0.0.0", "--no-auth", env=env)
    assert refused.returncode == 2
    assert "acphost serve:" in refused.stderr
    probe = "import sys; from acphost.cli import main; main(['--help']); "
    probe += "print('fastapi' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert loaded.stdout.splitlines()[-1] == "False", loaded.stderr
