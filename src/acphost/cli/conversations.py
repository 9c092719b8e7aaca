"""``acphost conversations list|show|replay|export|delete`` (and ``acphost replay``).

Everything here works from the store alone: showing, replaying or exporting a conversation
reads its stored events and never starts its agent.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from typing import Any, TypeAlias

from rich.console import Console
from rich.table import Table
from rich.text import Text

from acphost.cli._common import (
    EXIT_OK,
    STATUSES,
    add_store,
    find_conversation,
    fold,
    format_time,
    open_store,
    positive,
    print_json,
)
from acphost.cli._render import Renderer
from acphost.cli._wording import format_cost, format_usage
from acphost.conversation import ConversationState
from acphost.errors import UsageError
from acphost.events import TurnEndedEvent, parse_event

__all__ = [
    "add_parser",
    "add_replay",
    "delete_command",
    "export_command",
    "list_command",
    "replay_command",
    "show_command",
]

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_replay(parser: argparse.ArgumentParser) -> None:
    """The options of ``replay`` (also the top-level ``acphost replay`` alias)."""
    parser.add_argument("id", metavar="ID", help="a conversation id (or a unique prefix)")
    add_store(parser)
    parser.add_argument("--json", action="store_true", help="print the events as JSON lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tool output in full")
    parser.set_defaults(func=replay_command)


def _add_one(what: Sub, name: str, help: str) -> argparse.ArgumentParser:
    parser = what.add_parser(name, help=help)
    parser.add_argument("id", metavar="ID", help="a conversation id (or a unique prefix)")
    add_store(parser)
    return parser


def add_parser(sub: Sub) -> None:
    """``acphost conversations ACTION``."""
    conversations = sub.add_parser("conversations", help="browse stored conversations")
    what = conversations.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = what.add_parser("list", help="stored conversations, newest first")
    add_store(listing)
    listing.add_argument("--status", choices=STATUSES, help="only conversations in this status")
    listing.add_argument("--agent", metavar="A", help="only this agent's conversations")
    listing.add_argument("--search", metavar="Q", help="a substring of the title or id")
    listing.add_argument("--limit", type=positive, default=20, metavar="N", help="default 20")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=list_command)
    show = _add_one(what, "show", "a conversation's state (its agent is not started)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=show_command)
    add_replay(what.add_parser("replay", help="show a stored conversation as it ran"))
    export = _add_one(what, "export", "a conversation's events as JSON lines, as stored")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(func=export_command)
    delete = _add_one(what, "delete", "delete a conversation and all its events")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=delete_command)


def list_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Stored conversations, newest first, filtered like the store's own query."""
    with open_store(args.store) as store:
        records = store.list_conversations(
            status=args.status, agent=args.agent, search=args.search, limit=args.limit
        )
    if args.json:
        print_json(out, [dataclasses.asdict(r) for r in records])
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
        print_json(out, {"conversation": dataclasses.asdict(record), "state": summary})
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


def export_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Every stored event of a conversation, one JSON object per line, byte for byte."""
    with open_store(args.store) as store:
        record = find_conversation(store, args.id)
        target = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for stored in store.iter_events(record.id):
                target.write(stored.data.rstrip(b"\n") + b"\n")
        finally:
            if args.output:
                target.close()
            else:
                target.flush()
    if args.output:
        err.print(Text(f"exported conversation {record.id} to {args.output}", style="dim"))
    return EXIT_OK


def delete_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Delete a conversation and its events (asks first at a terminal, unless ``--yes``)."""
    with open_store(args.store) as store:
        record = find_conversation(store, args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"deleting {record.id} needs a confirmation",
                    hint="pass --yes to delete without being asked",
                )
            title = f" ({record.title})" if record.title else ""
            answer = out.input(Text(f"Delete conversation {record.id}{title}? [y/N] "))
            if answer.strip().lower() not in ("y", "yes"):
                out.print(Text("kept", style="dim"))
                return EXIT_OK
        store.delete_conversation(record.id)
    out.print(Text.assemble(("deleted ", "dim"), record.id))
    return EXIT_OK
