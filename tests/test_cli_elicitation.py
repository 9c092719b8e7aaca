"""``acphost run`` when the agent asks something: a form answered field by field at a terminal
(reviewed before it is sent), a URL shown in full and consented to, ``--deny`` and no terminal
declining; the fake agent echoes what it was told and the stored log says who answered."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from acphost.testing import Scenario, fake_agent_command
from cli_support import TIMEOUT, chat_args, clean_env, conversation_id, running
from cli_support import acphost as cli

FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Your name"},
        "level": {"type": "string", "enum": ["junior", "senior"], "default": "senior"},
        "years": {"type": "integer"},
    },
    "required": ["name", "level"],
}
URL = "https://auth.example.com/connect?id=gh-1"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


def _args(tmp_path: Path, scenario: Scenario, *extra: str) -> list[str]:
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    store = str(tmp_path / "store.db")
    return ["run", "--command", command, "--cwd", str(tmp_path), "--store", store, *extra, "go"]


def _events(tmp_path: Path, cid: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = cli("conversations", "export", cid, "--store", str(tmp_path / "store.db"), env=env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _answered(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["kind"] == "elicitation_answered")


def _told(events: list[dict[str, Any]]) -> Any:
    return json.loads(next(e for e in events if e["kind"] == "agent_message")["text"])


def test_a_form_is_answered_field_by_field_at_a_terminal(
    tmp_path: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    scenario = Scenario("form").turn().elicitation("About you?", FORM, echo_result=True).stop()
    with running(_args(tmp_path, scenario), env, slave) as (proc, output):
        # the fields in the schema's order (the agent sends its properties sorted)
        output.wait_for("level (one of junior, senior; required) [senior]: ")
        os.write(master, b"1\n")  # by its number in the list
        output.wait_for("Your name (string; required): ")
        os.write(master, b"\n")  # required: asked again
        output.wait_for("Your name is required")
        os.write(master, b"Ada\n")
        output.wait_for("years (integer): ")
        os.write(master, b"many\n")
        output.wait_for("type a whole number")
        os.write(master, b"7\n")
        output.wait_for("Send this? [Y(es)/e(dit)/d(ecline)/c(ancel)]")
        os.write(master, b"y\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    text = output.data.decode() + out.decode()
    assert "? the agent asks you: About you?" in text
    assert "→ accepted (by callback)" in text
    events = _events(tmp_path, conversation_id(text), env)
    content = {"name": "Ada", "level": "junior", "years": 7}
    assert (_answered(events)["action"], _answered(events)["content"]) == ("accept", content)
    assert _told(events) == {"action": "accept", "content": content}


def test_a_url_is_shown_in_full_and_needs_consent(
    tmp_path: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    scenario = Scenario("url").turn().elicitation("Log in", url=URL, echo_result=True).stop()
    with running(_args(tmp_path, scenario), env, slave) as (proc, output):
        output.wait_for("Consent to open it? [y/N]")
        os.write(master, b"y\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    text = output.data.decode() + out.decode()
    assert URL in text
    assert "acphost will not open it" in text
    events = _events(tmp_path, conversation_id(text), env)
    assert _answered(events)["action"] == "accept"
    assert _told(events) == {"action": "accept"}


@pytest.mark.parametrize("deny", [True, False], ids=["--deny", "no terminal"])
def test_with_deny_or_without_a_terminal_it_is_declined(
    tmp_path: Path, env: dict[str, str], deny: bool
) -> None:
    scenario = Scenario("form").turn().elicitation("About you?", FORM, echo_result=True).stop()
    done = cli(*_args(tmp_path, scenario, *(["--deny"] if deny else [])), env=env)
    assert done.returncode == 0, done.stderr
    assert "→ declined (by policy" in done.stdout
    events = _events(tmp_path, conversation_id(done.stdout), env)
    answered = _answered(events)
    assert (answered["action"], answered["source"]) == ("decline", "policy")
    assert _told(events) == {"action": "decline"}


def test_in_a_chat_the_form_takes_its_answers_from_the_chats_reader(
    tmp_path: Path, env: dict[str, str], terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    scenario = Scenario("form").turn().elicitation("About you?", FORM, echo_result=True).stop()
    command = shlex.join(fake_agent_command(scenario, directory=tmp_path))
    store = str(tmp_path / "store.db")
    with running(chat_args(command, tmp_path, store), env, slave) as (proc, output):
        output.wait_for("you> ")
        os.write(master, b"go\n")
        output.wait_for("level (one of junior, senior; required) [senior]: ")
        os.write(master, b"\n")  # the default
        output.wait_for("Your name (string; required): ")
        os.write(master, b"Grace\n")
        output.wait_for("years (integer): ")
        os.write(master, b"\n")  # not required: left out
        output.wait_for("Send this?")
        os.write(master, b"d\n")  # declined after the review
        output.wait_for("you> ", count=2)  # the turn is over
        os.write(master, b"/quit\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    text = output.data.decode() + out.decode()
    assert "→ declined (by callback)" in text
    events = _events(tmp_path, conversation_id(text), env)
    answered = _answered(events)
    assert (answered["action"], answered["content"]) == ("decline", None)
    assert _told(events) == {"action": "decline"}
