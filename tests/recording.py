"""A fake agent that writes down what it was told, and the check that the log agrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acphost.events import Event, PermissionDecidedEvent, PermissionRequestedEvent


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def told(path: Path) -> list[dict[str, Any]]:
    """What the agent received, one line per permission answer (see :data:`RECORDING`)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


RECORDING = """
import json

def record(tool_call_id, outcome):
    with open({out!r}, "a") as handle:
        handle.write(json.dumps({{
            "tool_call_id": tool_call_id,
            "outcome": outcome.outcome,
            "option_id": outcome.option_id,
        }}) + "\\n")
"""


def recording_agent(fake_agent: Any, tmp_path: Path, body: str, **settings: Any) -> list[str]:
    """A fake agent whose scenario ``body`` may call ``record(tool_call_id, outcome)``."""
    source = RECORDING.format(out=str(tmp_path / "told.jsonl")) + body
    return list(fake_agent(source=source, **settings))


def assert_log_matches_agent(events: list[Event], received: list[dict[str, Any]]) -> None:
    """Every decision the log records is the answer the agent got, and nothing else."""
    tool_call_of = {e.request_id: e.tool_call_id for e in of(events, PermissionRequestedEvent)}
    logged = [
        {
            "tool_call_id": tool_call_of[d.request_id],
            "outcome": "cancelled" if d.decision == "cancelled" else "selected",
            "option_id": d.option_id,
        }
        for d in of(events, PermissionDecidedEvent)
    ]
    key = lambda entry: entry["tool_call_id"]  # noqa: E731
    assert sorted(logged, key=key) == sorted(received, key=key)


ASK_ONCE = """
async def scenario(ctx, prompt):
    await ctx.tool_call("w", "Write", kind="edit", status="pending")
    record("w", await ctx.request_permission("w", "Write it?"))
    return "end_turn"
"""
