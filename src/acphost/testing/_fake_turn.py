"""One prompt turn of the fake agent: the scenario's context, the Python scenario or the
document's steps for the turn, and the prompt's answer (stop reason, usage, ``_meta``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._context import FakeAgentContext
from ._fake_protocol import REQUEST_CANCELLED, IncomingRequest, RpcError
from ._fake_sessions import SessionState, TurnState
from ._fake_steps import run_steps
from ._results import FailTurn, StopTurn, TurnCancelled

if TYPE_CHECKING:
    from ._agent import FakeAgent

ScenarioFunction = Callable[[FakeAgentContext, str], Awaitable[str | None]]


def prompt_text(blocks: Any) -> str:
    """The text a scenario is given: the prompt's text blocks, one per line."""
    if not isinstance(blocks, list):
        return ""
    return "\n".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )


def _complete_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    full = dict(usage)
    if "totalTokens" not in full:
        full["totalTokens"] = int(full.get("inputTokens", 0)) + int(full.get("outputTokens", 0))
    full.setdefault("inputTokens", 0)
    full.setdefault("outputTokens", 0)
    return full


async def run_prompt(
    agent: FakeAgent, session: SessionState, blocks: list[Any], request: IncomingRequest
) -> dict[str, Any]:
    """Run a turn of ``session`` for the prompt ``blocks``; the ``session/prompt`` answer."""
    turn = TurnState(ignore_cancel=bool(agent.settings["ignore_cancel"]))
    request.on_cancel.append(lambda: turn.request_cancel(by_request=True))
    session.active_turn = turn
    text = prompt_text(blocks)
    if session.title is None and text.strip():
        session.title = text.strip().splitlines()[0][:80]
    session.history.extend({"role": "user", "content": b} for b in blocks)
    ctx = FakeAgentContext(
        peer=agent.peer,
        session=session,
        turn=turn,
        settings=agent.settings,
        client_capabilities=agent.client_capabilities,
        client_info=agent.client_info,
        prompt=text,
        prompt_blocks=blocks,
        failures=agent.failures,
    )
    stop_reason: str = "end_turn"
    usage: Mapping[str, Any] | None = None
    try:
        stop_reason = await _run_turn(agent, ctx, text) or "end_turn"
    except TurnCancelled:
        stop_reason = "cancelled"
    except StopTurn as stop:
        stop_reason, usage = stop.reason, stop.usage
    except FailTurn as exc:
        raise RpcError(exc.code, exc.message, exc.data) from None
    finally:
        session.active_turn = None
        session.turn_index += 1
        if turn.agent_text:
            session.history.append({"role": "agent", "text": "".join(turn.agent_text)})
        if session.session_id in agent.store.live:
            agent.store.save(session)
    if turn.cancelled:
        if turn.cancelled_by_request:
            raise RpcError(REQUEST_CANCELLED, "Request cancelled")
        stop_reason = "cancelled"
    result: dict[str, Any] = {"stopReason": stop_reason}
    usage = usage or ctx.prompt_usage
    if usage:
        result["usage"] = _complete_usage(usage)
    if ctx.response_meta is not None:
        result["_meta"] = ctx.response_meta
    return result


async def _run_turn(agent: FakeAgent, ctx: FakeAgentContext, text: str) -> str | None:
    """Run the Python scenario, or the document's steps for this turn; the stop reason."""
    if agent.scenario is not None:
        reason = await agent.scenario(ctx, text)
        return reason if isinstance(reason, str) else None
    turns = agent.settings["turns"]
    index = ctx.turn_index
    after = agent.settings["after_last_turn"]
    if index < len(turns):
        steps = turns[index]
    elif not turns or after == "echo":
        await ctx.echo_prompt()
        return None
    elif after == "repeat":
        steps = turns[-1]
    else:
        steps = []
    await run_steps(ctx, steps)
    return None
