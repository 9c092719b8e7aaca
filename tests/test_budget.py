"""Cost that can be trusted: per-turn deltas, raw usage kept, and a budget that ends the turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from acphost.conversation import Conversation
from acphost.errors import BudgetExceeded
from acphost.events import ErrorEvent, Event, TurnEndedEvent

SPENDER = """
async def scenario(ctx, prompt):
    ctx.vars["cost"] = ctx.vars.get("cost", 0.0) + float(prompt)
    await ctx.text("spending")
    await ctx.usage(100, 1000, cost=round(ctx.vars["cost"], 6))
    ctx.prompt_usage = {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}
    if prompt == "0.04":  # the turn that goes over the budget
        while await ctx.sleep(0.05):  # works on until cancelled
            pass
        return "cancelled"
    return "end_turn"
"""


def test_a_turn_over_budget_is_cancelled_and_no_turn_starts_until_raised(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    conversation = conversations(fake_agent(source=SPENDER), max_cost=0.05)
    first = bounded(conversation.run, "0.02", timeout=30)
    assert first.cost == pytest.approx(0.02)
    assert first.usage.total_tokens == 10
    with pytest.raises(BudgetExceeded) as raised:
        bounded(conversation.run, "0.04", timeout=30)  # 0.06 in all: stopped mid-turn
    assert raised.value.cost == pytest.approx(0.06)
    assert raised.value.max_cost == 0.05
    state = conversation.state
    assert state.status == "error"
    events = check_log(conversation)
    ended = [e for e in events if isinstance(e, TurnEndedEvent)]
    assert [e.stop_reason for e in ended] == ["end_turn", "cancelled"]
    assert ended[1].error_code == "budget_exceeded"
    assert ended[1].cost == pytest.approx(0.04)
    error = next(e for e in events if isinstance(e, ErrorEvent))
    assert error.code == "budget_exceeded"
    assert error.details["max_cost"] == 0.05
    assert error.details["cost"] == pytest.approx(0.06)
    assert "max_cost" in error.hint
    # Over budget: the next message is kept, but does not run (nor after a resume), and the
    # log says why (a server's client sees only the log)...
    with pytest.raises(BudgetExceeded):
        bounded(conversation.run, "0.001", timeout=30)
    assert state.turns == 2
    refused = [e for e in conversation.state.events if isinstance(e, ErrorEvent)][1:]
    assert [(e.code, e.source) for e in refused] == [("budget_exceeded", "host")]
    conversation.close()
    conversation = Conversation.resume(conversation.id, store=conversation.store)
    assert conversation.max_cost == 0.05
    state = conversation.state
    with pytest.raises(BudgetExceeded):
        bounded(conversation.run, timeout=30)
    # ...until the budget is raised.
    conversation.max_cost = 1.0
    third = bounded(conversation.run, timeout=30)
    assert third is not None
    assert third.turn == 3
    assert state.cost == pytest.approx(0.061)
    check_log(conversation)
    conversation.close()
