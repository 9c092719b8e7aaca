"""``acphost chat`` while a turn runs (issue 16): ``/steer TEXT`` reaches the agent inside the
running turn, a plain line is queued as the next turn, the quick commands answer at once, and a
permission question still takes its answer from the same stdin. Each test runs the chat for
real (``python -m acphost.cli``) on a fake agent that waits on something the test controls;
each failed before the chat read stdin during turns."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acphost.testing import Scenario, fake_agent_command
from cli_support import TIMEOUT, Output, chat_args, clean_env, conversation_id, running
from cli_support import acphost as cli

LISTENER = """
async def scenario(ctx, prompt):
    await ctx.tool_call("t1", "Thinking it over", status="in_progress")
    heard = await ctx.wait_for_steering(30)
    await ctx.tool_update("t1", status="completed")
    await ctx.text(f"heard: {heard}")
    return "end_turn"
"""

GATED = """
import asyncio, os

async def scenario(ctx, prompt):
    if prompt == "first":
        await ctx.tool_call("t1", "Working", status="in_progress")
        while not os.path.exists({gate!r}):  # the test opens the gate once it saw the chat
            if ctx.cancelled:
                return "cancelled"
            await asyncio.sleep(0.01)
        await ctx.tool_update("t1", status="completed")
    await ctx.text(f"done: {{prompt}}")
    return "end_turn"
"""

ASKING = """
async def scenario(ctx, prompt):
    await ctx.tool_call("t1", "Edit a.txt", kind="edit", status="pending")
    heard = await ctx.wait_for_steering(30)
    answer = await ctx.request_permission("t1", f"Edit a.txt ({heard})")
    await ctx.text(f"{heard}: {'allowed' if answer.allowed else 'denied'}")
    return "end_turn"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


def _agent(tmp_path: Path, source: str, **settings: Any) -> str:
    path = tmp_path / "scenario.py"
    path.write_text(source)
    scenario = Scenario("chat-steer", python=f"{path}:scenario", **settings)
    return shlex.join(fake_agent_command(scenario, directory=tmp_path))


def _chat_args(tmp_path: Path, command: str) -> list[str]:
    return chat_args(command, tmp_path, str(tmp_path / "store.db"))


def _events(tmp_path: Path, cid: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = cli("conversations", "export", cid, "--store", str(tmp_path / "store.db"), env=env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _said(events: list[dict[str, Any]], kind: str) -> list[tuple[Any, ...]]:
    if kind == "user_message":
        return [
            (e["text"], e["turn"], e["source"], e["steered"])
            for e in events
            if e["kind"] == kind and e["source"] != "agent"
        ]
    return [(e["text"], e["turn"]) for e in events if e["kind"] == kind]


def _write(proc: subprocess.Popen[bytes], text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text.encode())
    proc.stdin.flush()


def _finish(proc: subprocess.Popen[bytes], output: Output) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    return output.data.decode() + out.decode()


def test_steer_reaches_the_running_turn(tmp_path: Path, env: dict[str, str]) -> None:
    command = _agent(tmp_path, LISTENER, steering=True)
    with running(_chat_args(tmp_path, command), env, subprocess.PIPE) as (proc, output):
        _write(proc, "plan a route\n")
        output.wait_for("Thinking it over")  # the agent now waits to be steered
        _write(proc, "/steer go left\n")
        output.wait_for("heard: go left")
        output.wait_for("stop reason: end_turn")
        _write(proc, "/quit\n")
        text = _finish(proc, output)
    assert "> go left  (steered into the running turn)" in text
    assert "steered into turn 1: the agent has it now" in text
    assert text.count("stop reason:") == 1  # no turn of its own
    events = _events(tmp_path, conversation_id(text), env)
    assert _said(events, "user_message") == [
        ("plan a route", 1, "user", False),
        ("go left", 1, "user", True),  # recorded as the user's, in turn 1
    ]
    assert _said(events, "agent_message") == [("heard: go left", 1)]


def test_lines_typed_while_a_turn_runs(tmp_path: Path, env: dict[str, str]) -> None:
    gate = tmp_path / "gate"
    command = _agent(tmp_path, GATED.format(gate=str(gate)))
    with running(_chat_args(tmp_path, command), env, subprocess.PIPE) as (proc, output):
        _write(proc, "first\n")
        output.wait_for("Working")  # turn 1 runs until the gate opens
        _write(proc, "second\n")
        output.wait_for("queued as turn 2: it runs once the turn before it ends")
        _write(proc, "/steer third\n")  # this agent cannot be steered
        output.wait_for("cannot be steered: queued as turn 3")
        _write(proc, "/id\n/cost\n")
        mid_turn = output.wait_for("1 turn · ")  # answered at once, turn 1 still running
        gate.touch()
        output.wait_for("done: third")
        _write(proc, "/quit\n")
        text = _finish(proc, output)
    assert "done: first" not in mid_turn
    cid = conversation_id(text)
    assert f"\n{cid}\n" in mid_turn  # /id too
    assert text.count("stop reason: end_turn") == 3
    assert text.index("done: first") < text.index("turn 2 (queued): second")
    assert text.index("turn 2 (queued): second") < text.index("done: second")
    assert text.index("done: second") < text.index("turn 3 (queued): third")
    events = _events(tmp_path, cid, env)
    assert _said(events, "user_message") == [
        ("first", 1, "user", False),
        ("second", 2, "user", False),
        ("third", 3, "user", False),
    ]
    assert _said(events, "agent_message") == [
        ("done: first", 1),
        ("done: second", 2),
        ("done: third", 3),
    ]


def test_lines_queued_behind_a_cancelled_turn_wait(tmp_path: Path, env: dict[str, str]) -> None:
    gate = tmp_path / "gate"  # never opened: Ctrl-C ends the first turn
    command = _agent(tmp_path, GATED.format(gate=str(gate)))
    with running(_chat_args(tmp_path, command), env, subprocess.PIPE) as (proc, output):
        _write(proc, "first\n")
        output.wait_for("Working")
        _write(proc, "later\n")
        output.wait_for("queued as turn 2")
        proc.send_signal(signal.SIGINT)
        output.wait_for("stop reason: cancelled")
        waiting = output.wait_for("1 queued line waits: it runs before your next line")
        _write(proc, "\n")  # an empty line runs it
        output.wait_for("done: later")
        _write(proc, "/quit\n")
        text = _finish(proc, output)
    assert "done: later" not in waiting  # it waited for the empty line
    events = _events(tmp_path, conversation_id(text), env)
    assert _said(events, "agent_message") == [("done: later", 2)]
    ended = [(e["turn"], e["stop_reason"]) for e in events if e["kind"] == "turn_ended"]
    assert ended == [(1, "cancelled"), (2, "end_turn")]


def test_at_a_terminal_steer_then_answer_the_question(
    tmp_path: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    command = _agent(tmp_path, ASKING, steering=True)
    with running(_chat_args(tmp_path, command), env, slave) as (proc, output):
        output.wait_for("you> ")
        os.write(master, b"go\n")
        output.wait_for("Edit a.txt (edit) pending")
        os.write(master, b"/steer be careful\n")
        output.wait_for("Allow Edit a.txt (be careful)? [y/N/a(lways)]")
        os.write(master, b"y\n")  # the question takes this line, not the chat
        output.wait_for("be careful: allowed")
        output.wait_for("you> ", count=2)  # the turn is over
        os.write(master, b"/quit\n")
        text = _finish(proc, output)
    assert "→ allowed once (by callback)" in text
    events = _events(tmp_path, conversation_id(text), env)
    assert _said(events, "user_message") == [
        ("go", 1, "user", False),
        ("be careful", 1, "user", True),
    ]
    decided = [e for e in events if e["kind"] == "permission_decided"]
    assert [(e["decision"], e["source"]) for e in decided] == [("allow_once", "user")]


def test_an_agents_echo_of_the_prompt_is_not_shown(tmp_path: Path, env: dict[str, str]) -> None:
    scenario = Scenario("echo").turn().user_text("hello (as the agent heard it)").text("hi").stop()
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    store = str(tmp_path / "store.db")
    done = cli(
        "run", "--command", command, "--cwd", str(tmp_path), "--store", store, "hello", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "> hello\n" in done.stdout
    assert "as the agent heard it" not in done.stdout  # an echo, not something the user said
    assert "callback raised" not in done.stderr  # the renderer took it in its stride
