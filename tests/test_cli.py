"""The ``acphost`` command line, run for real: subprocesses, the demo and fake agents, a store.

Every test drives ``python -m acphost.cli`` as a user would (stdout a pipe, stdin not a
terminal unless a pty is given), so rendering, exit codes and signals are the real ones.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console

from acphost.cli._render import Renderer
from acphost.conversation import ConversationState
from acphost.events import (
    AgentMessageEvent,
    Event,
    ThoughtEvent,
    ToolCallEvent,
    TurnEndedEvent,
    TurnResumedEvent,
    TurnStalledEvent,
)
from acphost.testing import Scenario, fake_agent_command
from cli_support import TIMEOUT, Output, acphost, clean_env, conversation_id, start


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


# --- run ---------------------------------------------------------------------------------


def test_run_demo_allow_renders_the_whole_turn(
    workspace: Path, env: dict[str, str], store: str
) -> None:
    done = acphost(
        "run",
        "--agent",
        "demo",
        "--cwd",
        str(workspace),
        "--allow",
        "--store",
        store,
        "Summarise",
        "this",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b[" not in out  # a pipe gets no colour codes
    assert "> Summarise this" in out
    for title in ("ls -la", "Read README.md", "wc -l", "Write NOTES.md"):
        assert f"✓ {title}" in out, title
    assert "◐ ls -la (execute) in_progress" in out
    assert "completed" in out
    assert "thinking: The user asks" in out
    assert "[x] List the workspace" in out
    assert "    +++ b/NOTES.md" in out
    assert "    +# Notes" in out
    assert "--- /dev/null" in out
    assert "allowed once (by policy)" in out
    assert "I wrote a short summary to NOTES.md." in out
    assert "stop reason: end_turn" in out
    assert "usage: " in out
    assert "tokens (" in out
    assert "cost: $" in out
    assert len(conversation_id(out)) == 32
    assert (workspace / "NOTES.md").read_text().startswith("# Notes")


def test_run_deny_fails_the_write(workspace: Path, env: dict[str, str]) -> None:
    done = acphost(
        "run",
        "--agent",
        "demo",
        "--cwd",
        str(workspace),
        "--deny",
        "--store",
        ":memory:",
        "hi",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "→ denied (by policy)" in done.stdout
    assert "✗ Write NOTES.md (edit) failed" in done.stdout
    assert "was not written" in done.stdout
    assert not (workspace / "NOTES.md").exists()
    assert "note:" not in done.stderr


def test_run_without_a_terminal_denies_with_a_note(workspace: Path, env: dict[str, str]) -> None:
    done = acphost("run", "--agent", "demo", "--cwd", str(workspace), "hi", env=env)
    assert done.returncode == 0, done.stderr
    assert "✗ Write NOTES.md (edit) failed" in done.stdout
    assert "note: stdin is not a terminal" in done.stderr
    assert "--allow" in done.stderr
    assert not (workspace / "NOTES.md").exists()
    assert (Path(env["ACPHOST_HOME"]) / "acphost.db").exists()  # the default store


def test_run_json_prints_the_conversation_then_events(
    workspace: Path, env: dict[str, str], store: str
) -> None:
    done = acphost(
        "run",
        "--agent",
        "demo",
        "--cwd",
        str(workspace),
        "--allow",
        "--json",
        "--store",
        store,
        "hi",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    head, *events = [json.loads(line) for line in done.stdout.splitlines()]
    assert head["type"] == "conversation"
    assert head["agent"] == "demo"
    assert head["workspace"] == str(workspace)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1))
    kinds = {e["kind"] for e in events}
    assert {"user_message", "tool_call", "agent_message", "turn_ended"} <= kinds
    ended = next(e for e in events if e["kind"] == "turn_ended")
    assert ended["stop_reason"] == "end_turn"
    assert ended["usage"]["total_tokens"] > 0
    assert events[-1] == {**events[-1], "kind": "status_changed", "status": "finished"}

    shown = acphost("conversations", "show", head["id"], "--store", store, "--json", env=env)
    assert json.loads(shown.stdout)["state"]["events"] == len(events)


def test_unknown_command_is_agent_not_found(workspace: Path, env: dict[str, str]) -> None:
    done = acphost(
        "run",
        "--command",
        "definitely-not-there --acp",
        "--cwd",
        str(workspace),
        "--store",
        ":memory:",
        "hi",
        env=env,
    )
    assert done.returncode == 1
    assert "error agent_not_found:" in done.stderr
    assert "hint: install the agent" in done.stderr
    assert "stop reason: error" in done.stdout


def test_usage_errors_exit_2(workspace: Path, env: dict[str, str]) -> None:
    unknown = acphost("run", "--agent", "nope", "hi", env=env)
    assert unknown.returncode == 2
    assert "unknown agent 'nope'" in unknown.stderr
    assert "--command" in unknown.stderr
    assert acphost("run", "--agent", "demo", env=env).returncode == 2  # no prompt
    both = acphost("run", "--agent", "demo", "--allow", "--deny", "x", env=env)
    assert both.returncode == 2
    nowhere = acphost("run", "--agent", "demo", "--cwd", "/no/such/dir", "x", env=env)
    assert nowhere.returncode == 2
    assert "not a directory" in nowhere.stderr
    assert acphost("--help", env=env).returncode == 0


def test_stop_reason_other_than_end_turn_exits_3(tmp_path: Path, env: dict[str, str]) -> None:
    scenario = Scenario("long").turn().text("so much to say").stop("max_tokens")
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    done = acphost(
        "run", "--command", command, "--cwd", str(tmp_path), "--store", ":memory:", "go", env=env
    )
    assert done.returncode == 3, done.stderr
    assert "so much to say" in done.stdout
    assert "stop reason: max_tokens" in done.stdout


def test_max_cost_and_stall_after_end_a_spending_stalled_turn(
    tmp_path: Path, env: dict[str, str]
) -> None:
    scenario = (
        Scenario("spender").turn().text("working").usage(used=10, size=100, cost=0.5).sleep(60)
    )
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    done = acphost(
        "run",
        *("--command", command, "--cwd", str(tmp_path), "--store", ":memory:"),
        *("--max-cost", "0.25", "--stall-after", "0"),
        "go",
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "error budget_exceeded" in done.stderr
    assert "over its max_cost of 0.25 USD" in done.stderr
    assert "no progress" not in done.stdout  # --stall-after 0: never


# --- the store ---------------------------------------------------------------------------


def test_list_show_and_replay_match_the_run(
    workspace: Path, env: dict[str, str], store: str
) -> None:
    run = acphost(
        "run",
        "--agent",
        "demo",
        "--cwd",
        str(workspace),
        "--allow",
        "--store",
        store,
        "--mode",
        "ask",
        "--model",
        "fake-large",
        "Summarise",
        env=env,
    )
    assert run.returncode == 0, run.stderr
    cid = conversation_id(run.stdout)
    assert "mode: ask" in run.stdout
    assert "model: fake-large" in run.stdout

    listed = acphost("conversations", "list", "--store", store, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (record,) = json.loads(listed.stdout)
    assert record["id"] == cid
    assert record["agent"] == "demo"
    assert record["status"] == "finished"
    table = acphost("conversations", "list", "--store", store, "--agent", "demo", env=env)
    assert cid in table.stdout
    assert str(workspace) in table.stdout
    none = acphost("conversations", "list", "--store", store, "--status", "running", env=env)
    assert "no conversations" in none.stdout

    show = acphost("conversations", "show", cid[:8], "--store", store, env=env)
    assert show.returncode == 0, show.stderr
    for fact in (cid, "finished", "end_turn", "fake-large", "tokens (", "$0.000"):
        assert fact in show.stdout, fact
    state = json.loads(
        acphost("conversations", "show", cid, "--store", store, "--json", env=env).stdout
    )["state"]
    assert state["turns"] == 1
    assert state["mode"] == "ask"
    assert state["model"] == "fake-large"
    assert state["last_stop_reason"] == "end_turn"
    assert state["usage"]["total_tokens"] > 0
    assert state["events"] > 20

    replay = acphost("conversations", "replay", cid, "--store", store, env=env)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == run.stdout  # same renderer, stored messages instead of tokens
    alias = acphost("replay", cid[:10], "--store", store, env=env)
    assert alias.stdout == run.stdout
    as_json = acphost("replay", cid, "--store", store, "--json", env=env)
    assert [json.loads(x)["seq"] for x in as_json.stdout.splitlines()][-1] == state["events"]


def test_show_unknown_conversation_is_an_error(env: dict[str, str], store: str) -> None:
    done = acphost("conversations", "show", "nope", "--store", store, env=env)
    assert done.returncode == 1
    assert "error conversation_not_found:" in done.stderr


def test_agents_lists_the_registry(env: dict[str, str]) -> None:
    table = acphost("agents", env=env)
    assert table.returncode == 0, table.stderr
    demo = next(line for line in table.stdout.splitlines() if "│ demo " in line)
    assert "yes" in demo
    assert "built in" in demo
    assert "acphost agents install claude" in table.stdout
    rows = {row["name"]: row for row in json.loads(acphost("agents", "--json", env=env).stdout)}
    assert rows["demo"]["installed"] is True
    assert rows["claude"]["install"] == "acphost agents install claude"
    assert rows["claude"]["pinned"] == "@agentclientprotocol/claude-agent-acp@0.49.0"
    assert rows["demo"]["pinned"] is None
    assert rows["claude"]["ask_mode"] == "default"
    assert rows["pi"]["asks_permission"] is False
    assert "cannot hold it back" in rows["pi"]["permission_note"]
    pi = next(line for line in table.stdout.splitlines() if "│ pi " in line)
    assert "never" in pi


# --- Ctrl-C and prompts ------------------------------------------------------------------


def _slow_command(tmp_path: Path, *, ignore_cancel: bool = False) -> str:
    scenario = (
        Scenario("slow", ignore_cancel=ignore_cancel)
        .turn()
        .text("working on it")
        .tool_call("t1", title="Long task", kind="execute", status="in_progress")
        .sleep(60)
        .text("never said")
        .stop()
    )
    return shlex.join(fake_agent_command(scenario, directory=tmp_path))


def test_ctrl_c_cancels_the_turn_cleanly(tmp_path: Path, env: dict[str, str], store: str) -> None:
    proc = start(
        [
            "run",
            "--command",
            _slow_command(tmp_path),
            "--cwd",
            str(tmp_path),
            "--store",
            store,
            "go",
        ],
        env,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        Output(proc.stdout.fileno()).wait_for("Long task")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 10
    text = out.decode()
    assert "stop reason: cancelled" in text
    assert "✗ Long task (execute) failed" in text
    assert "never said" not in text
    assert "interrupting… press Ctrl-C again to exit" in err.decode()
    show = acphost("conversations", "show", conversation_id(text), "--store", store, env=env)
    assert "last stop reason  cancelled" in show.stdout


def test_second_ctrl_c_exits_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    command = _slow_command(tmp_path, ignore_cancel=True)
    proc = start(
        ["run", "--command", command, "--cwd", str(tmp_path), "--store", ":memory:", "go"],
        env,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        Output(proc.stdout.fileno()).wait_for("Long task")
        proc.send_signal(signal.SIGINT)
        Output(proc.stderr.fileno()).wait_for("interrupting")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert time.monotonic() - started < 8  # not the agent's 10 s cancel grace


def _run_at_terminal(
    workspace: Path, env: dict[str, str], terminal: tuple[int, int]
) -> tuple[subprocess.Popen[bytes], Output]:
    proc = start(
        ["run", "--agent", "demo", "--cwd", str(workspace), "--store", ":memory:", "hi"],
        env,
        stdin=terminal[1],
    )
    assert proc.stdout is not None
    output = Output(proc.stdout.fileno())
    output.wait_for("Allow Write NOTES.md? [y/N/a(lways)]")
    return proc, output


def test_permission_is_asked_at_a_terminal(
    workspace: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    proc, output = _run_at_terminal(workspace, env, terminal)
    try:
        os.write(terminal[0], b"y\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "→ allowed once (by callback)" in output.data.decode() + out.decode()
    assert (workspace / "NOTES.md").exists()


def test_ctrl_c_at_the_prompt_cancels_the_turn(
    workspace: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    proc, output = _run_at_terminal(workspace, env, terminal)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    text = output.data.decode() + out.decode()
    assert "→ cancelled" in text
    assert "✗ Write NOTES.md (edit) failed" in text
    assert "stop reason: cancelled" in text
    assert not (workspace / "NOTES.md").exists()


# --- the renderer in-process -------------------------------------------------------------


def _render(events: Sequence[Event], tokens: dict[int, list[tuple[str, str]]]) -> str:
    buffer = io.StringIO()
    renderer = Renderer(Console(file=buffer, markup=False, soft_wrap=True, width=100))
    state = ConversationState("c1")
    for i, event in enumerate(events):
        for kind, text in tokens.get(i, []):
            (renderer.on_thought if kind == "thought" else renderer.on_token)(text)
        state.apply(event)
        renderer.on_event(event)
        if isinstance(event, TurnEndedEvent):
            renderer.summary(event, state)
    return buffer.getvalue()


def test_streamed_and_stored_messages_render_alike() -> None:
    events: list[Event] = [
        ThoughtEvent(seq=1, text="hmm [bold]"),
        AgentMessageEvent(seq=2, text="line one\nline two\n"),
        ToolCallEvent(
            seq=3,
            tool_call_id="t",
            title="Edit",
            tool_kind="edit",
            status="completed",
            content=[{"type": "diff", "path": "/w/a.txt", "oldText": "a\n", "newText": "b\n"}],
        ),
        AgentMessageEvent(seq=4, text="done"),
        TurnEndedEvent(seq=5, stop_reason="refusal", duration_s=2.0),
    ]
    streamed = {
        0: [("thought", "hm"), ("thought", "m [bold]")],
        1: [("text", "line one\n"), ("text", "line two\n")],
        3: [("text", "do"), ("text", "ne")],
    }
    live = _render(events, streamed)
    assert live == _render(events, {})
    assert "thinking: hmm [bold]\nline one\nline two\n✓ Edit (edit) completed\n" in live
    assert "    --- /w/a.txt\n    +++ /w/a.txt\n" in live  # no workspace: paths stay absolute
    assert "    -a\n    +b\n" in live
    assert "\ndone\n" in live
    assert "stop reason: refusal · 2.0 s" in live


def test_a_stalled_turn_is_shown_with_what_it_waits_for() -> None:
    events: list[Event] = [
        TurnStalledEvent(
            seq=1, idle_s=61.4, running_tools=[{"tool_call_id": "t", "title": "Long build"}]
        ),
        TurnResumedEvent(seq=2, stalled_s=12.2),
        TurnStalledEvent(seq=3, idle_s=60.0, pending_permissions=["r1"]),
        TurnStalledEvent(seq=4, idle_s=60.0),
    ]
    shown = _render(events, {})
    assert "⏸ no progress for 61 s · running: Long build\n" in shown
    assert "▶ moving again after 12 s\n" in shown
    assert "waiting for your answer to a permission request\n" in shown
    assert "⏸ no progress for 60 s · the agent says nothing\n" in shown
