"""How the CLI words and styles what it prints: status marks, decisions, costs, usage."""

from __future__ import annotations

import json
from typing import Any, Literal

from acphost.events import TokenUsage, TurnStalledEvent

__all__ = [
    "ANSWERS",
    "COMPACTION",
    "DECISIONS",
    "INDENT",
    "NOTICE_STYLE",
    "PLAN_STATUS",
    "THINKING",
    "TOOL_STATUS",
    "Stream",
    "block_key",
    "format_cost",
    "format_usage",
    "model_of",
    "waiting_on",
]

TOOL_STATUS: dict[str, tuple[str, str]] = {
    "pending": ("○", "yellow"),
    "in_progress": ("◐", "cyan"),
    "completed": ("✓", "green"),
    "failed": ("✗", "red"),
}
PLAN_STATUS: dict[str, tuple[str, str]] = {
    "pending": ("[ ]", "dim"),
    "in_progress": ("[>]", "cyan"),
    "completed": ("[x]", "green"),
}
DECISIONS = {
    "allow_once": ("allowed once", "green"),
    "allow_always": ("allowed always", "green"),
    "reject_once": ("denied", "red"),
    "reject_always": ("denied always", "red"),
    "cancelled": ("cancelled", "yellow"),
}
ANSWERS = {
    "accept": ("accepted", "green"),
    "decline": ("declined", "red"),
    "cancel": ("cancelled", "yellow"),
}
NOTICE_STYLE = {"info": "cyan", "warning": "yellow", "error": "red"}
COMPACTION: dict[str, tuple[str, str]] = {
    "in_progress": ("⟳ compacting the agent's context", "cyan"),
    "completed": ("⟳ the agent's context was compacted", "cyan"),
    "failed": ("✗ compacting the agent's context failed", "red"),
    "cancelled": ("⟳ compacting the agent's context was cancelled", "yellow"),
}
THINKING = "thinking: "
INDENT = "    "

Stream = Literal["text", "thought"]


def format_cost(cost: float, currency: str | None) -> str:
    """``$0.00021`` / ``0.12 EUR``: enough digits for sub-cent turns, no trailing zeros."""
    amount = f"{cost:.2f}" if abs(cost) >= 0.01 else f"{cost:.6f}".rstrip("0").rstrip(".")
    if currency in (None, "USD"):
        return f"${amount}"
    return f"{amount} {currency}"


def format_usage(usage: TokenUsage) -> str:
    """``1,234 tokens (1,000 in, 234 out, ...)``: the total, then each kind used."""
    total = usage.total_tokens or usage.input_tokens + usage.output_tokens
    parts = [f"{usage.input_tokens:,} in", f"{usage.output_tokens:,} out"]
    if usage.cached_read_tokens:
        parts.append(f"{usage.cached_read_tokens:,} cached read")
    if usage.cached_write_tokens:
        parts.append(f"{usage.cached_write_tokens:,} cached write")
    if usage.thought_tokens:
        parts.append(f"{usage.thought_tokens:,} thought")
    return f"{total:,} tokens ({', '.join(parts)})"


def block_key(block: dict[str, Any]) -> str:
    """A content block's identity (to tell the blocks already shown)."""
    return json.dumps(block, sort_keys=True, default=str)


def waiting_on(event: TurnStalledEvent) -> str:
    """What a stalled turn waits for, in words."""
    if event.pending_permissions:
        return " · waiting for your answer to a permission request"
    if event.pending_elicitations:
        return " · waiting for your answer to the agent's question"
    titles = [tool.get("title") or tool.get("tool_call_id", "") for tool in event.running_tools]
    return f" · running: {', '.join(titles)}" if titles else " · the agent says nothing"


def model_of(options: list[dict[str, Any]] | None) -> str | None:
    """The current value of the config option of category ``model``, if any."""
    for option in options or []:
        if option.get("category") == "model":
            value = option.get("currentValue")
            return value if isinstance(value, str) else None
    return None
