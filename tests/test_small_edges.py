"""Small edges a newcomer hit (issue 13, item 9): each test failed before its fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from acphost.agents import AgentBase, AgentContext
from acphost.conversation import Conversation
from acphost.testing import Scenario, fake_agent_command


class Quiet(AgentBase):
    """A plain Python agent whose ``step`` says something and returns nothing."""

    name = "quiet"

    def step(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> None:  # type: ignore[override]
        ctx.say("done")


def test_a_step_that_returns_nothing_ends_the_turn(
    conversations: Callable[..., Conversation],
) -> None:
    conversation = conversations(Quiet())
    ended = conversation.run("go")
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert conversation.state.last_stop_reason == "end_turn"


def test_fake_agent_command_leaves_no_file_per_call(tmp_path: Path) -> None:
    scenario = Scenario("same").turn().text("hi").stop()
    first = fake_agent_command(scenario, directory=tmp_path)
    for _ in range(5):
        assert fake_agent_command(scenario, directory=tmp_path) == first
    assert len(list(tmp_path.iterdir())) == 1
    other = fake_agent_command(Scenario("other").turn().stop(), directory=tmp_path)
    assert other != first
    assert len(list(tmp_path.iterdir())) == 2
