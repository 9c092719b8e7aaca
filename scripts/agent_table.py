#!/usr/bin/env python3
"""Render the per-agent capability table of docs/agents.md from what the tests observed.

    python scripts/agent_table.py                 # print the table
    python scripts/agent_table.py --write         # replace it in docs/agents.md
    python scripts/agent_table.py --check         # exit 1 if docs/agents.md is stale

``tests/test_real_agents.py`` records, for every agent it drove, the client methods the agent
called, the update kinds it sent, how it took a cancel, how its session came back after a host
restart, its auth methods and its usage reports, in ``.cache/agent-observations.json``. The
table is generated so that it says what was seen, not what someone remembered.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OBSERVATIONS = ROOT / ".cache" / "agent-observations.json"
DOC = ROOT / "docs" / "agents.md"
BEGIN = "<!-- BEGIN GENERATED: observed -->"
END = "<!-- END GENERATED: observed -->"
REGISTRY_BEGIN = "<!-- BEGIN GENERATED: registry -->"
REGISTRY_END = "<!-- END GENERATED: registry -->"

CHECKS = ("read", "shell", "write_allowed", "write_denied", "cancel", "two_turns", "resume")
CHECK_NAMES = {
    "read": "read",
    "shell": "shell",
    "write_allowed": "write",
    "write_denied": "deny",
    "cancel": "cancel",
    "two_turns": "2 turns",
    "resume": "resume",
    "auth_required": "auth",
    "steer": "steer",
}
LABELS = {
    "fast-agent": "fast-agent (passthrough model)",
    "fast-agent-model": "fast-agent (model server)",
    "claude": "Claude Code (claude-agent-acp)",
    "claude-node22": "Claude Code, newest (claude-agent-acp on Node 22)",
    "codex": "Codex (codex-acp)",
    "kimi": "Kimi CLI",
}


def _code(items: Any) -> str:
    return ", ".join(f"`{item}`" for item in items) if items else "none"


def _short_methods(methods: list[str]) -> str:
    """``fs/read_text_file, fs/write_text_file`` -> ``fs/{read,write}_text_file``-ish groups."""
    groups: dict[str, list[str]] = {}
    for method in methods:
        prefix, _, name = method.partition("/")
        groups.setdefault(prefix, []).append(name)
    return "<br>".join(f"`{prefix}/` {', '.join(names)}" for prefix, names in groups.items())


def _resume(record: dict[str, Any]) -> str:
    offered = [
        name
        for name, key in (("load", "load_session"), ("resume", "session_resume"))
        if record.get(key)
    ]
    text = " + ".join(f"`session/{name}`" for name in offered) or "none"
    used = record.get("resume")
    if used:
        text += f"; after a host restart: {used}"
    return text


def _cancel(record: dict[str, Any]) -> str:
    cancel = record.get("cancel")
    if not cancel:
        return "not observed"
    parts = [f"stopReason `{cancel.get('stop_reason')}`"]
    if cancel.get("model_request_aborted") is True:
        parts.append("model request aborted")
    elif cancel.get("model_request_aborted") is False:
        parts.append("model request left running")
    if cancel.get("agent_stopped_by_host"):
        parts.append("ignored: stopped by acphost")
    return ", ".join(parts)


def _usage(record: dict[str, Any]) -> str:
    usage = record.get("usage") or {}
    said = []
    if usage.get("prompt_response_usage"):
        said.append("`PromptResponse.usage`")
    if usage.get("usage_update"):
        said.append("`usage_update`" + (" with cost" if usage.get("cost") else ""))
    return ", ".join(said) or "none"


def _asking(record: dict[str, Any]) -> str:
    """The mode it started in, and the one acphost selected so that a policy is asked."""
    asking = record.get("asking_mode") or {}
    started = asking.get("started_in") or (record.get("modes") or {}).get("current")
    if not started:
        return "no modes"
    text = f"starts in `{started}`"
    if asking.get("selected"):
        text += f"; ask/deny select `{asking['selected']}`"
    elif asking:
        text += "; asks in it"
    return text


def _advertised(record: dict[str, Any]) -> str:
    """What it advertised on ``initialize`` beyond prompts and MCP (``loadSession`` etc.)."""
    plain = ("promptCapabilities.", "mcpCapabilities.")
    shown = [c for c in record.get("capabilities") or () if not c.startswith(plain)]
    return "<br>".join(f"`{c}`" for c in shown) if shown else "none"


def _steering(record: dict[str, Any]) -> str:
    steering = record.get("steering")
    return "not observed" if steering is None else ("yes" if steering else "no")


def _auth(record: dict[str, Any]) -> str:
    text = _code(record.get("auth_methods"))
    error = record.get("auth_error")
    if error:
        text += "; no credentials: `AuthRequired`"
    return text


def _checks(record: dict[str, Any]) -> str:
    checks = record.get("checks") or {}
    return " ".join(
        CHECK_NAMES[name] + (" ✓" if checks.get(name) == "passed" else " –")
        for name in CHECK_NAMES
        if name in checks or name in CHECKS
    )


def render(data: dict[str, Any]) -> str:
    agents: dict[str, dict[str, Any]] = data.get("agents") or {}
    order = [label for label in LABELS if label in agents]
    order += sorted(label for label in agents if label not in LABELS)
    rows = [
        "| agent | version | client methods it called | update kinds it sent | cancel | "
        "session after restart | auth methods | usage | permission mode | advertised | "
        "steering | checks |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in order:
        record = agents[label]
        info = record.get("agent_info") or {}
        cells = [
            LABELS.get(label, label),
            f"{record.get('version') or info.get('version') or '?'}",
            _short_methods(record.get("client_methods") or []) or "none",
            _code(record.get("update_kinds")),
            _cancel(record),
            _resume(record),
            _auth(record),
            _usage(record),
            _asking(record),
            _advertised(record),
            _steering(record),
            _checks(record),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    notes = []
    for label in order:
        record = agents[label]
        extra = []
        if record.get("notifications"):
            extra.append(f"extension notifications {_code(record['notifications'])}")
        if record.get("denied_stop_reason") not in (None, "end_turn"):
            extra.append(f"a denied permission ends the turn `{record['denied_stop_reason']}`")
        modes = record.get("modes") or {}
        if modes.get("available"):
            current = modes.get("current")
            extra.append(f"modes {_code(modes['available'])} (current in the tests: `{current}`)")
        if record.get("permission_option_kinds"):
            extra.append(f"permission options {_code(record['permission_option_kinds'])}")
        kinds = [k for k in record.get("tool_kinds") or () if k != "-"]
        extra.append(f"tool kinds {_code(kinds)}" if kinds else "tool calls carry no `kind`")
        notes.append(f"- **{LABELS.get(label, label)}**: " + "; ".join(extra) + ".")
    return "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n"


def render_registry() -> str:
    """The built-in registry entries (acphost must be importable: run with its venv)."""
    from acphost.agents._builtin import BUILTIN_AGENTS

    rows = [
        "| name | launches | install | credentials | base URL | starts in mode |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in BUILTIN_AGENTS.values():
        if entry.builtin:
            command = " ".join(["python", *entry.command[1:]])
        else:
            command = " ".join(entry.command)
            if entry.python_module:
                command = f"python -m {entry.python_module} {' '.join(entry.command[1:])}"
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{entry.name}`",
                    f"`{command}`",
                    entry.install
                    if entry.builtin
                    or " " not in entry.install.split("  ")[0]
                    or entry.install.startswith("see ")
                    else f"`{entry.install}`",
                    _code(entry.credentials) if entry.credentials else "-",
                    _code(entry.base_urls) if entry.base_urls else "-",
                    f"`{entry.default_mode}`" if entry.default_mode else "-",
                ]
            )
            + " |"
        )
    quirks = [
        f"- **{entry.title}** (`{entry.name}`): {entry.notes}"
        for entry in BUILTIN_AGENTS.values()
        if entry.notes and not entry.builtin
    ]
    return "\n".join(rows) + "\n\n" + "\n".join(quirks) + "\n"


def replace_section(document: str, begin: str, end: str, text: str) -> str:
    start, stop = document.find(begin), document.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{DOC}: the markers {begin!r} ... {end!r} are missing")
    return document[: start + len(begin)] + "\n" + text + document[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=Path, default=OBSERVATIONS)
    parser.add_argument("--doc", type=Path, default=DOC)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the doc in place")
    action.add_argument("--check", action="store_true", help="fail if the doc is stale")
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.observations.read_text())
    except (OSError, ValueError) as exc:
        print(
            f"cannot read {args.observations} ({exc}); run the real-agent tests first: "
            "bash scripts/install-agents.sh && pytest -m real_agent",
            file=sys.stderr,
        )
        return 2
    table = render(data)
    if not (args.write or args.check):
        sys.stdout.write(table)
        return 0
    document = args.doc.read_text()
    updated = replace_section(document, BEGIN, END, table)
    updated = replace_section(updated, REGISTRY_BEGIN, REGISTRY_END, render_registry())
    if args.check:
        if updated != document:
            print(
                f"{args.doc} is stale: run python scripts/agent_table.py --write", file=sys.stderr
            )
            return 1
        return 0
    args.doc.write_text(updated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
