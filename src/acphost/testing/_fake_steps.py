"""Interpreter for JSON scenario steps: each step is one :class:`FakeAgentContext` call.

Client-request steps record their result (``save_as``) and can stream it back as answer
text (``echo_result``) so a test sees what its client answered without inspecting the agent.
A failing client request is logged, saved as ``{"error": ...}`` and does not stop the turn.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
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


async def _client_step(ctx: FakeAgentContext, step: Mapping[str, Any]) -> None:
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


async def _permission_step(ctx: FakeAgentContext, step: Mapping[str, Any]) -> None:
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
    meta = step.get("meta")
    if kind in ("text", "thought"):
        method = ctx.text if kind == "text" else ctx.thought
        await method(step["text"], chunks=int(step.get("chunks", 1)), meta=meta)
    elif kind == "user_text":
        await ctx.user_text(step["text"], meta=meta)
    elif kind == "echo_prompt":
        await ctx.echo_prompt(chunks=int(step.get("chunks", 3)))
    elif kind == "report":
        await ctx.report()
    elif kind == "tool_call":
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
    elif kind == "tool_update":
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
    elif kind == "permission":
        await _permission_step(ctx, step)
    elif kind in ("read_file", "write_file", "terminal", "elicitation", "request"):
        await _client_step(ctx, step)
    elif kind == "plan":
        await ctx.plan(step["entries"], meta=meta)
    elif kind == "mode":
        await ctx.mode(step["mode_id"], meta=meta)
    elif kind == "config_update":
        await ctx.config_update(step.get("config_options"), meta=meta)
    elif kind == "session_info":
        await ctx.session_info(
            title=step.get("title"), updated_at=step.get("updated_at"), meta=meta
        )
    elif kind == "usage":
        await ctx.usage(step["used"], step["size"], cost=step.get("cost"), meta=meta)
    elif kind == "commands":
        await ctx.commands(step["commands"], meta=meta)
    elif kind == "notice":
        await ctx.notice(
            step["title"],
            severity=step.get("severity", "info"),
            description=step.get("description"),
            meta=meta,
        )
    elif kind == "compaction":
        await ctx.compaction(
            step["compaction_id"],
            step["status"],
            summary=step.get("summary"),
            error=step.get("error"),
            meta=meta,
        )
    elif kind == "compaction_summary":
        await ctx.compaction_summary(
            step["compaction_id"], step["text"], chunks=int(step.get("chunks", 1)), meta=meta
        )
    elif kind == "sleep":
        await ctx.sleep(float(step["seconds"]))
    elif kind == "stderr":
        await ctx.stderr(step["text"])
    elif kind == "stderr_flood":
        await ctx.stderr_flood(int(step["bytes"]))
    elif kind == "crash":
        await ctx.crash(int(step.get("exit_code", 1)))
    elif kind == "malformed":
        await ctx.malformed(step["text"])
    elif kind == "huge_line":
        await ctx.huge_line(int(step["bytes"]))
    elif kind == "raw_update":
        await ctx.update(step["update"], meta=meta, session_id=step.get("session_id"))
    elif kind == "subagent":
        await ctx.subagent(
            step["subagent_session_id"],
            name=step.get("name", "worker"),
            task=step.get("task", ""),
            capabilities=step.get("capabilities"),
            meta=meta,
        )
    elif kind == "subagent_state":
        await ctx.subagent_state(step["subagent_session_id"], step["state"], meta=meta)
    elif kind == "notify":
        await ctx.notify(step["method"], step.get("params"))
    elif kind == "storm":
        await ctx.storm(step["kind"], int(step["count"]))
    elif kind == "stop":
        if meta is not None:
            ctx.response_meta = meta
        ctx.stop(step.get("reason", "end_turn"), usage=step.get("usage"))
    elif kind == "fail":
        ctx.fail(step["message"], code=int(step.get("code", -32603)), data=step.get("data"))
    else:  # validated at load time; kept for documents built by hand in-process
        ctx.fail(f"unknown step type {kind!r}")


async def run_steps(ctx: FakeAgentContext, steps: Sequence[Mapping[str, Any]]) -> None:
    for step in steps:
        await run_step(ctx, step)
