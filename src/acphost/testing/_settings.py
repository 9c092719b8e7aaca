"""Scenario document defaults and validation, shared by the builder and the fake agent.

Kept free of any acphost/pydantic import: the fake agent is a separate process that must
start fast, and the builder must produce exactly what the agent will accept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

FORMAT_VERSION = 1

DEFAULT_AGENT_INFO: dict[str, Any] = {
    "name": "acphost-fake-agent",
    "title": "acphost fake agent",
    "version": "1.0.0",
}

DEFAULT_SETTINGS: dict[str, Any] = {
    "name": "scenario",
    "protocol_version": 1,
    "agent_info": DEFAULT_AGENT_INFO,
    "load_session": True,
    "replay_on_resume": False,  # like fast-agent: session/resume replays history as load does
    "prompt_capabilities": {"image": True, "audio": False, "embeddedContext": True},
    "mcp_capabilities": {"http": True, "sse": True},
    "session_capabilities": {"list": {}, "resume": {}, "close": {}, "delete": {}},
    "agent_capabilities": {},
    "auth_methods": [],
    "auth_required": False,
    "terminal_login": None,  # {"credentials": PATH, "password": ...}: see _fake_login
    "modes": None,
    "config_options": None,
    "ignore_cancel": False,
    "steering": False,  # advertise and answer the _session/steering extension
    "string_ids": False,
    "respect_client_capabilities": True,
    "after_last_turn": "repeat",
    "session_ids": [],
    "startup_delay": 0.0,
    "linger_after_eof": 0.0,
    "ignore_sigterm": False,
    "method_delays": {},
    "method_errors": {},
    "ext_methods": {},
    "response_meta": {},
    "python": None,
    "turns": [],
}
"""Top-level settings of a scenario document (agent info, capabilities...) and their defaults."""

AFTER_LAST_TURN = ("repeat", "echo", "end_turn")

#: Step type -> required fields. Optional fields are documented on the builder methods.
STEP_REQUIRED: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "thought": ("text",),
    "user_text": ("text",),
    "echo_prompt": (),
    "report": (),
    "tool_call": ("tool_call_id", "title"),
    "tool_update": ("tool_call_id",),
    "permission": ("tool_call_id",),
    "read_file": ("path",),
    "write_file": ("path", "content"),
    "terminal": ("command",),
    "elicitation": ("message",),
    "plan": ("entries",),
    "mode": ("mode_id",),
    "config_update": (),
    "session_info": (),
    "usage": ("used", "size"),
    "commands": ("commands",),
    "notice": ("title",),
    "compaction": ("compaction_id", "status"),
    "compaction_summary": ("compaction_id", "text"),
    "subagent": ("subagent_session_id",),
    "subagent_state": ("subagent_session_id", "state"),
    "sleep": ("seconds",),
    "stderr": ("text",),
    "stderr_flood": ("bytes",),
    "crash": (),
    "malformed": ("text",),
    "huge_line": ("bytes",),
    "raw_update": ("update",),
    "notify": ("method",),
    "request": ("method",),
    "storm": ("kind", "count"),
    "stop": (),
    "fail": ("message",),
}

STORM_KINDS = ("agent_message_chunk", "tool_call")


class ScenarioError(ValueError):
    """A scenario document (or Python scenario reference) is unusable."""


def validate_steps(steps: Any, where: str, problems: list[str]) -> None:
    """Collect problems in a step list (recursing into permission branches)."""
    if not isinstance(steps, list):
        problems.append(f"{where}: steps must be a list")
        return
    for i, step in enumerate(steps):
        here = f"{where}[{i}]"
        if not isinstance(step, Mapping):
            problems.append(f"{here}: a step must be an object")
            continue
        kind = step.get("type")
        if kind not in STEP_REQUIRED:
            problems.append(f"{here}: unknown step type {kind!r}")
            continue
        missing = [f for f in STEP_REQUIRED[kind] if f not in step]
        if missing:
            problems.append(f"{here} ({kind}): missing {', '.join(missing)}")
        if kind == "storm" and step.get("kind") not in STORM_KINDS:
            problems.append(f"{here} (storm): kind must be one of {', '.join(STORM_KINDS)}")
        for branch in ("then", "else"):
            if branch in step:
                validate_steps(step[branch], f"{here}.{branch}", problems)


def turn_steps(turn: Any) -> Any:
    """A turn is ``{"steps": [...]}``; a bare list of steps is accepted too."""
    if isinstance(turn, Mapping):
        return turn.get("steps", [])
    return turn


def validate_document(doc: Any) -> None:
    """Raise :class:`ScenarioError` listing every problem, so authors fix them in one go."""
    if not isinstance(doc, Mapping):
        raise ScenarioError("a scenario document must be a JSON object")
    problems: list[str] = []
    unknown = sorted(k for k in doc if k not in DEFAULT_SETTINGS and k != "format")
    if unknown:
        problems.append(f"unknown settings: {', '.join(unknown)}")
    turns = doc.get("turns", [])
    if not isinstance(turns, list):
        problems.append("turns must be a list")
    else:
        for t, turn in enumerate(turns):
            validate_steps(turn_steps(turn), f"turns[{t}]", problems)
    if doc.get("after_last_turn", "repeat") not in AFTER_LAST_TURN:
        problems.append(f"after_last_turn must be one of {', '.join(AFTER_LAST_TURN)}")
    if problems:
        raise ScenarioError("invalid scenario: " + "; ".join(problems))


def normalize(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and turns reduced to plain step lists."""
    validate_document(doc)
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    settings.update(copy.deepcopy(dict(doc)))
    settings["turns"] = [list(turn_steps(t)) for t in settings["turns"]]
    return settings
