"""One surface, two twins: every blocking method of Conversation has its async twin, and back."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from acphost.conversation import Conversation
from acphost.events import ModeChangedEvent, SessionEvent
from acphost.testing import Scenario, boolean_option, select_option, session_modes

INSTANT = {
    # They never wait for the agent (from any thread, at any time): no twin needed.
    "send_message",
    "interrupt",
    "pause",
    "answer_permission",
    "deliver_pending",
    "resume",  # a constructor: reads the store, starts nothing
    "fork",  # a constructor too: the new conversation's first turn starts its agent
}


def _public_methods() -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(Conversation)
        if not name.startswith("_") and callable(member)
    }


def test_every_blocking_method_has_an_async_twin_and_back() -> None:
    methods = _public_methods()
    syncs = {n for n, m in methods.items() if not inspect.iscoroutinefunction(m)}
    asyncs = {n for n, m in methods.items() if inspect.iscoroutinefunction(m)}
    assert "astart" in asyncs
    assert "detach" in syncs
    missing_async = {n for n in syncs - INSTANT if f"a{n}" not in asyncs}
    missing_sync = {n for n in asyncs if n[1:] not in syncs}
    assert not missing_async, f"sync methods without an async twin: {sorted(missing_async)}"
    assert not missing_sync, f"async methods without a sync twin: {sorted(missing_sync)}"
    for name in syncs - INSTANT:  # twins take the same arguments
        ours = inspect.signature(methods[name]).parameters
        theirs = inspect.signature(methods[f"a{name}"]).parameters
        assert list(ours) == list(theirs), name


def test_the_async_twins_drive_the_agent(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
) -> None:
    scenario = (
        Scenario(
            "configurable",
            modes=session_modes(["ask", "code"], current="ask"),
            config_options=[
                select_option("model", "Model", ["m-small", "m-large"], category="model"),
                boolean_option("thinking", "Thinking", False),
            ],
        )
        .turn()
        .text("ok")
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    state = conversation.state

    async def main() -> None:
        await conversation.astart()
        assert state.mode_id == "ask"
        await conversation.aset_mode("code")
        await conversation.aset_config_option("thinking", True)
        await conversation.aset_model("m-large")
        await conversation.arun("go")

    bounded(asyncio.run, main(), timeout=30)
    assert state.mode_id == "code"
    assert state.model == "m-large"
    assert next(o for o in state.config_options if o["id"] == "thinking")["currentValue"] is True
    conversation.detach()  # sync twin of adetach: the next turn reattaches the session
    bounded(conversation.run, "again", timeout=30)
    kinds = [e.kind for e in state.events if isinstance(e, SessionEvent)]
    assert kinds[0] == "session_started"
    assert len(kinds) == 2
    assert kinds[1] != "session_started"  # reattached, or restarted saying so
    assert [e.mode_id for e in state.events if isinstance(e, ModeChangedEvent)] == ["code"]
