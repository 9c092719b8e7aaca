"""Interpreter for JSON scenario steps: each step is one :class:`FakeAgentContext` call.

Client-request steps record their result (``save_as``) and can stream it back as answer
text (``echo_result``) so a test sees what its client answered without inspecting the agent.
A failing client request is logged, saved as ``{"error": ...}`` and does not stop the turn.
"""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson

from ._context import FakeAgentContext
from ._fake_protocol import ClientRequestError, log
from ._results import PermissionOutcome, StopTurn

STOP_REASONS = ("end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled")
_TEMPLATED = (
    "text",
    "title",
    "path",
    "content",
    "command",
    "message",
    "cwd",
    "description",
)


def _template(ctx: FakeAgentContext, step: Mapping[str, Any]) -> dict[str, Any]:
    """Substitute ``$prompt``, ``$cwd``, ``$session_id``, ``$turn`` and ``${saved}`` names."""
    values: dict[str, Any] = {
        k: v for k, v in ctx.vars.items() if isinstance(v, str | int | float | bool)
    }
    values.update(prompt=ctx.prompt, cwd=ctx.cwd, session_id=ctx.session_id, turn=ctx.turn_index)
    out = dict(step)
    for key in _TEMPLATED:
        if isinstance(out.get(key), str) and "$" in out[key]:
            out[key] = string.Template(out[key]).safe_substitute(values)
    if isinstance(out.get("args"), list):
        out["args"] = [
            string.Template(a).safe_substitute(values) if isinstance(a, str) else a
            for a in out["args"]
        ]
    return out


async def _deliver(ctx: FakeAgentContext, step: Mapping[str, Any], value: Any, text: str) -> None:
    if step.get("save_as"):
        ctx.vars[str(step["save_as"])] = value
    if step.get("echo_result"):
        await ctx.text(text)


async def _client_step(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    kind = step["type"]
    try:
        if kind == "read_file":
            content = await ctx.read_file(
                step["path"], line=step.get("line"), limit=step.get("limit")
            )
            await _deliver(ctx, step, content, content)
        elif kind == "write_file":
            await ctx.write_file(step["path"], step["content"])
            await _deliver(ctx, step, "ok", f"wrote {ctx.resolve(step['path'])}")
        elif kind == "terminal":
            result = await ctx.terminal(
                step["command"],
                step.get("args"),
                cwd=step.get("cwd"),
                env=step.get("env"),
                output_byte_limit=step.get("output_byte_limit"),
                tool_call_id=step.get("tool_call_id"),
            )
            if step.get("save_as"):
                ctx.vars[f"{step['save_as']}_exit_code"] = result.exit_code
            await _deliver(ctx, step, result.output, result.output)
        elif kind == "elicitation":
            answer = await ctx.elicit(
                step["message"],
                step.get("schema"),
                tool_call_id=step.get("tool_call_id"),
                url=step.get("url"),
                elicitation_id=step.get("elicitation_id"),
            )
            if step.get("complete") and step.get("url") and answer.get("action") == "accept":
                eid = step.get("elicitation_id") or f"elicit-{ctx.session_id}"
                await ctx.notify("elicitation/complete", {"elicitationId": eid})
            await _deliver(ctx, step, answer, orjson.dumps(answer).decode())
        else:  # request
            result = await ctx.request(
                step["method"],
                step.get("params"),
                cancel_request_after=step.get("cancel_request_after"),
            )
            await _deliver(ctx, step, result, orjson.dumps(result).decode())
    except ClientRequestError as exc:
        log(f"step {kind}: {exc}")
        error = {"code": exc.code, "message": exc.message, "data": exc.data}
        await _deliver(ctx, step, {"error": error}, f"error: {exc.message}")


async def _permission_step(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    try:
        outcome = await ctx.request_permission(
            step["tool_call_id"],
            step.get("title"),
            step.get("options"),
            kind=step.get("kind"),
            tool_call=step.get("tool_call"),
            cancel_request_after=step.get("cancel_request_after"),
            meta=step.get("meta"),
            session_id=step.get("session_id"),
        )
    except ClientRequestError as exc:
        log(f"permission step: {exc}")
        outcome = PermissionOutcome("cancelled")
    await _deliver(ctx, step, str(outcome), str(outcome))
    expect = step.get("expect")
    if expect is not None:
        wanted = [expect] if isinstance(expect, str) else list(expect)
        if not any(outcome.matches(str(w)) for w in wanted):
            problem = f"permission {step['tool_call_id']}: expected {wanted}, got {outcome}"
            otherwise = step.get("otherwise", "error")
            if otherwise == "error":
                ctx.record_failure(problem)
                ctx.fail(problem, data={"outcome": str(outcome), "expected": wanted})
            ctx.record_failure(problem)
            if otherwise in STOP_REASONS:
                raise StopTurn(otherwise)
    branch = step.get("then" if outcome.allowed else "else")
    if branch:
        await run_steps(ctx, branch)


async def run_step(ctx: FakeAgentContext, raw: Mapping[str, Any]) -> None:
    """Execute one step; raises StopTurn/FailTurn/TurnCancelled to end the turn."""
    ctx.check()
    step = _template(ctx, raw)
    kind = step["type"]
    run = _STEPS.get(kind)
    if run is None:  # validated at load time; kept for documents built by hand in-process
        ctx.fail(f"unknown step type {kind!r}")
    await run(ctx, step, step.get("meta"))


async def run_steps(ctx: FakeAgentContext, steps: Sequence[Mapping[str, Any]]) -> None:
    for step in steps:
        await run_step(ctx, step)


async def _tool_call(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.tool_call(
        step["tool_call_id"],
        step["title"],
        kind=step.get("kind", "other"),
        status=step.get("status", "pending"),
        content=step.get("content"),
        locations=step.get("locations"),
        raw_input=step.get("raw_input"),
        name=step.get("name"),
        meta=meta,
    )


async def _tool_update(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.tool_update(
        step["tool_call_id"],
        status=step.get("status"),
        title=step.get("title"),
        kind=step.get("kind"),
        content=step.get("content"),
        locations=step.get("locations"),
        raw_input=step.get("raw_input"),
        raw_output=step.get("raw_output"),
        meta=meta,
    )


async def _notice(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.notice(
        step["title"],
        severity=step.get("severity", "info"),
        description=step.get("description"),
        meta=meta,
    )


async def _compaction(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.compaction(
        step["compaction_id"],
        step["status"],
        summary=step.get("summary"),
        error=step.get("error"),
        meta=meta,
    )


async def _subagent(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.subagent(
        step["subagent_session_id"],
        name=step.get("name", "worker"),
        task=step.get("task", ""),
        capabilities=step.get("capabilities"),
        meta=meta,
    )


async def _sleep(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    await ctx.sleep(float(step["seconds"]))  # cut short by a cancel: the next step sees it


async def _stop(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    if meta is not None:
        ctx.response_meta = meta
    ctx.stop(step.get("reason", "end_turn"), usage=step.get("usage"))


async def _fail(ctx: FakeAgentContext, step: Mapping[str, Any], meta: Any) -> None:
    ctx.fail(step["message"], code=int(step.get("code", -32603)), data=step.get("data"))


_Step = Callable[[FakeAgentContext, Mapping[str, Any], Any], Awaitable[None]]

_STEPS: dict[str, _Step] = {
    "text": lambda ctx, s, meta: ctx.text(s["text"], chunks=int(s.get("chunks", 1)), meta=meta),
    "thought": lambda ctx, s, meta: ctx.thought(
        s["text"], chunks=int(s.get("chunks", 1)), meta=meta
    ),
    "user_text": lambda ctx, s, meta: ctx.user_text(s["text"], meta=meta),
    "echo_prompt": lambda ctx, s, meta: ctx.echo_prompt(chunks=int(s.get("chunks", 3))),
    "report": lambda ctx, s, meta: ctx.report(),
    "tool_call": _tool_call,
    "tool_update": _tool_update,
    "permission": _permission_step,
    "read_file": _client_step,
    "write_file": _client_step,
    "terminal": _client_step,
    "elicitation": _client_step,
    "request": _client_step,
    "plan": lambda ctx, s, meta: ctx.plan(s["entries"], meta=meta),
    "mode": lambda ctx, s, meta: ctx.mode(s["mode_id"], meta=meta),
    "config_update": lambda ctx, s, meta: ctx.config_update(s.get("config_options"), meta=meta),
    "session_info": lambda ctx, s, meta: ctx.session_info(
        title=s.get("title"), updated_at=s.get("updated_at"), meta=meta
    ),
    "usage": lambda ctx, s, meta: ctx.usage(s["used"], s["size"], cost=s.get("cost"), meta=meta),
    "commands": lambda ctx, s, meta: ctx.commands(s["commands"], meta=meta),
    "notice": _notice,
    "compaction": _compaction,
    "compaction_summary": lambda ctx, s, meta: ctx.compaction_summary(
        s["compaction_id"], s["text"], chunks=int(s.get("chunks", 1)), meta=meta
    ),
    "sleep": _sleep,
    "stderr": lambda ctx, s, meta: ctx.stderr(s["text"]),
    "stderr_flood": lambda ctx, s, meta: ctx.stderr_flood(int(s["bytes"])),
    "crash": lambda ctx, s, meta: ctx.crash(int(s.get("exit_code", 1))),
    "malformed": lambda ctx, s, meta: ctx.malformed(s["text"]),
    "huge_line": lambda ctx, s, meta: ctx.huge_line(int(s["bytes"])),
    "raw_update": lambda ctx, s, meta: ctx.update(
        s["update"], meta=meta, session_id=s.get("session_id")
    ),
    "subagent": _subagent,
    "subagent_state": lambda ctx, s, meta: ctx.subagent_state(
        s["subagent_session_id"], s["state"], meta=meta
    ),
    "notify": lambda ctx, s, meta: ctx.notify(s["method"], s.get("params")),
    "storm": lambda ctx, s, meta: ctx.storm(s["kind"], int(s["count"])),
    "stop": _stop,
    "fail": _fail,
}
"""What each step type does (``step`` is templated; ``meta`` is its ``_meta``, if any)."""
