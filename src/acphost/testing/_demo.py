"""Built-in Python scenarios: ``demo`` (a believable coding-agent turn) and ``echo``.

``demo`` exercises every client-facing path a host must support — terminals, file reads,
a permission prompt, a file write with a diff, plans, streamed text and usage — against
the session's real working directory, so a host can be tried end to end without any LLM.
"""

from __future__ import annotations

import os
from pathlib import PurePath

from ._context import FakeAgentContext
from ._payloads import boolean_option, diff_content, select_option, session_modes, text_content
from ._results import ClientRequestError
from ._scenario import scenario_settings

NOTES = "NOTES.md"
TEXT_SUFFIXES = {
    ".md", ".txt", ".rst", ".py", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml",
    ".js", ".ts", ".rs", ".go", ".c", ".h", ".sh", ".html", ".css",
}  # fmt: skip
PLAN = ("List the workspace", "Read a file", "Count its lines", f"Write {NOTES}", "Answer")


def _plan(done: int) -> list[dict[str, str]]:
    return [
        {
            "content": step,
            "priority": "medium",
            "status": "completed" if i < done else "in_progress" if i == done else "pending",
        }
        for i, step in enumerate(PLAN)
    ]


def regular_files(ls_output: str) -> list[str]:
    """Names of regular files in ``ls -la`` output (lines starting with ``-``)."""
    names = []
    for line in ls_output.splitlines():
        fields = line.split(maxsplit=8)
        if len(fields) == 9 and line.startswith("-"):
            names.append(fields[8])
    return names


def _looks_text(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"\0" not in handle.read(1024)
    except OSError:
        return False


def pick_file(names: list[str], cwd: str) -> str | None:
    """README* first, then text-looking suffixes, then any file without NUL bytes; never
    our own notes (the host's files are local, so peeking at them is fair for a fake)."""
    candidates = [n for n in names if n != NOTES]
    readmes = [n for n in candidates if n.lower().startswith("readme")]
    texty = [n for n in candidates if PurePath(n).suffix.lower() in TEXT_SUFFIXES]
    ordered = readmes + texty + [n for n in candidates if n not in texty]
    return next((n for n in ordered if _looks_text(os.path.join(cwd, n))), None)


def local_listing(cwd: str) -> list[str]:
    """Fallback for clients without terminals: the regular files, listed by the agent."""
    try:
        return sorted(e.name for e in os.scandir(cwd) if e.is_file(follow_symlinks=False))
    except OSError:
        return []


async def _run(ctx: FakeAgentContext, tool_call_id: str, command: str, args: list[str]) -> str:
    """One command in a client terminal, shown as an ``execute`` tool call."""
    title = " ".join([command, *args])
    raw = {"command": command, "args": args, "cwd": ctx.cwd}
    await ctx.tool_call(tool_call_id, title, kind="execute", status="pending", raw_input=raw)
    try:
        output, exit_status = await ctx.terminal(command, args, tool_call_id=tool_call_id)
    except ClientRequestError as exc:
        await ctx.tool_update(tool_call_id, status="failed", content=[text_content(str(exc))])
        return ""
    ok = exit_status.get("exitCode") in (0, None) and not exit_status.get("signal")
    await ctx.tool_update(
        tool_call_id,
        status="completed" if ok else "failed",
        content=[text_content(output[:4000])],
        raw_output=exit_status,
    )
    return output


async def _read(ctx: FakeAgentContext, tool_call_id: str, name: str) -> str | None:
    path = ctx.resolve(name)
    await ctx.tool_call(
        tool_call_id, f"Read {name}", kind="read", status="pending", locations=[{"path": path}]
    )
    await ctx.tool_update(tool_call_id, status="in_progress")
    try:
        content = await ctx.read_file(path)
    except ClientRequestError as exc:
        await ctx.tool_update(tool_call_id, status="failed", content=[text_content(str(exc))])
        return None
    preview = "\n".join(content.splitlines()[:20])
    await ctx.tool_update(tool_call_id, status="completed", content=[text_content(preview)])
    return content


async def _write_notes(ctx: FakeAgentContext, tool_call_id: str, notes: str) -> bool:
    """Ask first; write only when allowed. Any refusal ends the tool call ``failed``."""
    path = ctx.resolve(NOTES)
    old: str | None = None
    if os.path.isfile(path) and ctx.has_capability("fs.readTextFile"):
        try:
            old = await ctx.read_file(path)
        except ClientRequestError:
            old = None
    diff = [diff_content(path, notes, old)]
    title = f"Write {NOTES}"
    await ctx.tool_call(
        tool_call_id, title, kind="edit", status="pending", locations=[{"path": path}], content=diff
    )
    outcome = await ctx.request_permission(tool_call_id, title, kind="edit")
    if not outcome.allowed:
        reason = f"Permission {outcome}: {NOTES} was not written."
        await ctx.tool_update(tool_call_id, status="failed", content=[text_content(reason)])
        return False
    await ctx.tool_update(tool_call_id, status="in_progress")
    try:
        await ctx.write_file(path, notes)
    except ClientRequestError as exc:
        await ctx.tool_update(tool_call_id, status="failed", content=[text_content(str(exc))])
        return False
    await ctx.tool_update(tool_call_id, status="completed", content=diff)
    return True


@scenario_settings(
    name="demo",
    modes=session_modes(["ask", "code"], current="code"),
    config_options=[
        select_option("model", "Model", ["fake-small", "fake-large"], category="model"),
        boolean_option("thinking", "Show thinking", True),
    ],
)
async def demo(ctx: FakeAgentContext, prompt: str) -> str | None:
    """List, read, count, ask, write, answer: one of everything a coding agent does."""
    turn = ctx.turn_index
    await ctx.plan(_plan(0))
    await ctx.thought(f"The user asks: {prompt!r}. Let me look at the workspace first.")

    listing = await _run(ctx, f"ls-{turn}", "ls", ["-la"])
    files = regular_files(listing) if listing else local_listing(ctx.cwd)
    await ctx.plan(_plan(1))

    name = pick_file(files, ctx.cwd)
    content = await _read(ctx, f"read-{turn}", name) if name else None
    await ctx.plan(_plan(2))

    lines = content.count("\n") if content is not None else 0
    if name is not None and content is not None:
        counted = await _run(ctx, f"wc-{turn}", "wc", ["-l", ctx.resolve(name)])
        first = counted.split(maxsplit=1)[0] if counted.strip() else ""
        lines = int(first) if first.isdigit() else lines
    await ctx.plan(_plan(3))

    summary = f"{name} has {lines} lines" if name and content is not None else "no text file read"
    notes = (
        f"# Notes\n\nPrompt: {prompt}\n\n- {len(files)} regular files in {ctx.cwd}\n- {summary}\n"
    )
    wrote = await _write_notes(ctx, f"write-{turn}", notes)
    await ctx.plan(_plan(len(PLAN)))

    parts = [
        f'You asked: "{prompt}". ',
        f"The workspace has {len(files)} regular files. ",
        f"I read {name} ({lines} lines). " if name and content is not None else "",
        f"I wrote a short summary to {NOTES}."
        if wrote
        else f"Permission was not granted, so {NOTES} was not written.",
    ]
    for part in filter(None, parts):
        await ctx.text(part)
    answer = "".join(parts)
    tokens_in, tokens_out = len(prompt.split()) + len(listing) // 4, len(answer.split())
    await ctx.usage(tokens_in + tokens_out, 200_000, cost=round(tokens_out * 1e-5, 6))
    ctx.prompt_usage = {
        "inputTokens": tokens_in,
        "outputTokens": tokens_out,
        "totalTokens": tokens_in + tokens_out,
        "cachedReadTokens": 0,
    }
    return "end_turn"


@scenario_settings(name="echo")
async def echo(ctx: FakeAgentContext, prompt: str) -> str | None:
    """Stream the prompt back in a few chunks."""
    await ctx.echo_prompt(chunks=3)
    return "end_turn"
