"""``arun()`` shares the caller's loop: a storm is delivered in slices, with yields between."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from acphost.conversation import Conversation
from acphost.conversation._driving import ASYNC_SLICE
from acphost.events import Event, ToolCallEvent
from acphost.testing import Scenario


def test_a_storm_in_arun_leaves_the_callers_loop_running(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
) -> None:
    calls = 3000  # 9,000 tool-call events, far more than one slice
    ticks = 0
    seen: list[int] = []  # the ticker's count when each event was delivered

    def on_event(event: Event) -> None:
        if isinstance(event, ToolCallEvent):
            seen.append(ticks)

    conversation = conversations(
        fake_agent(Scenario("storm").storm("tool_call", calls).stop()), callbacks=[on_event]
    )

    async def main() -> None:
        nonlocal ticks
        stop = asyncio.Event()

        async def ticker() -> None:  # another task of the caller: a socket, a conversation
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        try:
            await conversation.arun("go")
        finally:
            stop.set()
            await task

    bounded(asyncio.run, main(), timeout=60)
    assert len(seen) == 3 * calls
    longest, run = 1, 1
    for before, after in itertools.pairwise(seen):
        run = run + 1 if after == before else 1
        longest = max(longest, run)
    # the ticker ran between every two slices: never more than a slice without it
    assert longest <= ASYNC_SLICE
