"""``acphost agents`` and ``acphost conversations list|show|replay``: reading, never running.

Everything here works from the registry and the store alone: showing or replaying a
conversation folds its stored events and never starts its agent.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shlex
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from acphost._cli_common import EXIT_OK, find_conversation, fold, format_time, open_store
from acphost._render import Renderer, format_cost, format_usage
from acphost.agents import KNOWN_AGENTS, AgentEntry
from acphost.conversation import ConversationState
from acphost.events import TurnEndedEvent, parse_event

__all__ = ["agents_command", "list_command", "replay_command", "show_command"]


def _print_json(out: Console, data: Any) -> None:
    out.file.write(json.dumps(data, indent=2, default=str) + "\n")
    out.file.flush()


# --- agents ------------------------------------------------------------------------------


def _command_line(entry: AgentEntry) -> str:
    # The built-ins run under this very interpreter: its full path is noise in a table.
    argv = list(entry.command)
    if argv and argv[0] == sys.executable:
        argv[0] = "python"
    return shlex.join(argv)


def _versions(entries: list[AgentEntry]) -> dict[str, str | None]:
    """The installed agents' versions, asked in parallel (asking one may take a second)."""
    installed = [entry for entry in entries if entry.installed()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(lambda entry: entry.version(timeout=5.0), installed)
        return {entry.name: version for entry, version in zip(installed, found, strict=True)}


def agents_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """The registry: what can be run by name, whether it is installed, how to install it."""
    entries = list(KNOWN_AGENTS.values())
    versions = _versions(entries)
    if args.json:
        rows = [
            {
                "name": entry.name,
                "title": entry.title,
                "installed": entry.installed(),
                "version": versions.get(entry.name),
                "command": list(entry.command),
                "install": entry.install,
                "credentials": list(entry.credentials),
            }
            for entry in entries
        ]
        _print_json(out, rows)
        return EXIT_OK
    table = Table("name", "title", "installed", "version")
    table.add_column("command", overflow="fold")
    table.add_column("install", overflow="fold")
    for entry in entries:
        installed = entry.name in versions
        table.add_row(
            entry.name,
            entry.title,
            Text("yes", style="green") if installed else Text("no", style="dim"),
            versions.get(entry.name) or "-",
            _command_line(entry),
            entry.install,
        )
    out.print(table)
    return EXIT_OK


# --- conversations -----------------------------------------------------------------------


def list_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Stored conversations, newest first, filtered like the store's own query."""
    with open_store(args.store) as store:
        records = store.list_conversations(
            status=args.status, agent=args.agent, search=args.search, limit=args.limit
        )
    if args.json:
        _print_json(out, [dataclasses.asdict(r) for r in records])
        return EXIT_OK
    if not records:
        out.print(Text("no conversations", style="dim"))
        return EXIT_OK
    table = Table("id", "agent", "status", "updated", "title")
    table.add_column("workspace", overflow="fold")
    table.columns[0].no_wrap = True
    for r in records:
        table.add_row(
            r.id, r.agent, r.status, format_time(r.updated_at), r.title or "-", _home(r.workspace)
        )
    out.print(table)
    return EXIT_OK


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if home != "/" and path.startswith(home + os.sep) else path


def _state_summary(state: ConversationState) -> dict[str, Any]:
    error = state.last_error
    return {
        "status": state.status,
        "title": state.title,
        "turns": state.turns,
        "last_stop_reason": state.last_stop_reason,
        "usage": state.usage.model_dump(),
        "cost": state.cost,
        "currency": state.currency,
        "context_used": state.context_used,
        "context_size": state.context_size,
        "mode": state.mode_id,
        "model": state.model,
        "session_id": state.session_id,
        "events": len(state.events),
        "last_error": None if error is None else {"code": error.code, "message": error.message},
    }


def show_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """A conversation's header and its state, rebuilt by folding the stored events."""
    with open_store(args.store) as store:
        record = find_conversation(store, args.id)
        state, _ = fold(store, record)
    summary = _state_summary(state)
    if args.json:
        _print_json(out, {"conversation": dataclasses.asdict(record), "state": summary})
        return EXIT_OK
    spec = record.metadata.get("agent") or {}
    command = spec.get("command")
    usage = format_usage(state.usage) if state.usage.total_tokens or state.turns else "-"
    rows: list[tuple[str, str]] = [
        ("agent", record.agent + (f"  ({shlex.join(command)})" if command else "")),
        ("workspace", record.workspace),
        ("created", format_time(record.created_at)),
        ("updated", format_time(record.updated_at)),
        ("status", state.status),
        ("title", state.title or "-"),
        ("turns", str(state.turns)),
        ("last stop reason", state.last_stop_reason or "-"),
        ("usage", usage),
        ("cost", "-" if state.cost is None else format_cost(state.cost, state.currency)),
        ("mode", state.mode_id or "-"),
        ("model", state.model or "-"),
        ("session", state.session_id or "-"),
        ("events", str(len(state.events))),
    ]
    if state.last_error is not None:
        rows.append(("last error", f"{state.last_error.code}: {state.last_error.message}"))
    out.print(Text.assemble(("conversation ", "bold"), (record.id, "bold cyan")))
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        out.print(Text.assemble((name.ljust(width), "dim"), value))
    return EXIT_OK


def replay_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print a stored conversation as ``acphost run`` showed it (or its events as JSON lines)."""
    with open_store(args.store) as store:
        record = find_conversation(store, args.id)
        renderer = Renderer(out, verbose=args.verbose, workspace=record.workspace)
        state = ConversationState(record.id)
        for stored in store.iter_events(record.id):
            event = parse_event(stored.data)
            if args.json:
                out.file.write(event.model_dump_json() + "\n")
                continue
            state.apply(event)
            renderer.on_event(event)
            if isinstance(event, TurnEndedEvent):
                renderer.summary(event, state)
    out.file.flush()
    return EXIT_OK
