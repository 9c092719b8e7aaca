"""Permission policy means what it says: an agent that starts in a mode where it approves its
own tool calls is put in its asking mode when the policy decides, or the log says it can't be."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from acphost.agents import KNOWN_AGENTS, ACPAgent
from acphost.conversation import Conversation
from acphost.events import AgentMessageEvent, Event, PermissionModeEvent
from acphost.testing import Scenario, session_modes

MODES = session_modes(["auto", "default", "yolo"], current="auto")
SAYS_ITS_MODE = """
async def scenario(ctx, prompt):
    await ctx.text(f"working in mode {ctx.mode_id}")
    return "end_turn"
"""
AUTO_FIRST = Scenario("auto-first", modes=MODES).turn().text("ok").stop()


def _kinds(events: list[Event]) -> list[str]:
    return [
        e.kind for e in events if e.kind in ("session_started", "mode_changed", "permission_mode")
    ]


@pytest.mark.parametrize("policy", ["deny", "ask", "callback"])
def test_a_deciding_policy_selects_the_asking_mode_before_the_first_prompt(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
    policy: str,
) -> None:
    agent = ACPAgent(fake_agent(source=SAYS_ITS_MODE, modes=MODES), ask_mode="default")
    permission: Any = (lambda request: True) if policy == "callback" else policy
    conversation = conversations(agent, permission=permission)
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    assert _kinds(events) == ["session_started", "mode_changed", "permission_mode"]
    note = next(e for e in events if isinstance(e, PermissionModeEvent))
    assert (note.mode_id, note.can_ask, note.source) == ("default", True, "host")
    assert "started in mode 'auto'" in note.message
    assert conversation.state.mode_id == "default"
    said = [e.text for e in events if isinstance(e, AgentMessageEvent)]
    assert said == ["working in mode default"]  # selected before the prompt was sent


def test_an_allowing_policy_keeps_the_agents_mode(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    agent = ACPAgent(fake_agent(AUTO_FIRST), ask_mode="default")
    conversation = conversations(agent, permission="allow")
    bounded(conversation.run, "go", timeout=30)
    assert _kinds(check_log(conversation)) == ["session_started"]
    assert conversation.state.mode_id == "auto"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"asks_permission": False}, "never asks before acting"),
        ({"ask_mode": "careful"}, "offers no mode 'careful'"),
    ],
)
def test_an_agent_that_cannot_be_made_to_ask_is_named(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
    options: dict[str, Any],
    said: str,
) -> None:
    conversation = conversations(ACPAgent(fake_agent(AUTO_FIRST), **options), permission="deny")
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    (note,) = [e for e in events if isinstance(e, PermissionModeEvent)]
    assert note.can_ask is False
    assert note.mode_id is None
    assert said in note.message
    assert conversation.state.mode_id == "auto"


def test_the_registry_knows_which_agents_ask_and_how() -> None:
    assert KNOWN_AGENTS["claude"].ask_mode == "default"
    assert KNOWN_AGENTS["qwen"].ask_mode == "default"
    assert KNOWN_AGENTS["pi"].asks_permission is False
    assert "never asks" in KNOWN_AGENTS["pi"].permission_note
    assert KNOWN_AGENTS["copilot"].command[:2] == ("copilot", "--acp")
    described = KNOWN_AGENTS["claude"].describe()
    assert described["ask_mode"] == "default"
