"""What every ``acphost`` command shares: consoles, exit codes, argument types, the store,
and error reports in the command line's own words."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, get_args

from rich.console import Console
from rich.text import Text

from acphost.agents import KNOWN_AGENTS
from acphost.conversation import ConversationState, Status
from acphost.errors import AcphostError, UsageError
from acphost.events import Event, parse_event
from acphost.store import (
    ConversationNotFound,
    ConversationRecord,
    EventStore,
    SQLiteStore,
    default_store_path,
)

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "STATUSES",
    "Report",
    "add_store",
    "cli_hint",
    "directory",
    "error_exit",
    "find_conversation",
    "fold",
    "format_time",
    "known_agent",
    "make_console",
    "open_store",
    "positive",
    "print_json",
    "seconds",
]

EXIT_OK = 0
EXIT_ERROR = 1  # a typed AcphostError
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_STOPPED = 3  # the turn ended, but not with end_turn (max_tokens, refusal...)
EXIT_CANCELLED = 130  # 128 + SIGINT, as shells report a Ctrl-C
PIPE_WIDTH = 200
STATUSES: tuple[str, ...] = get_args(Status)


def make_console(*, stderr: bool = False) -> Console:
    """A console for people and pipes alike.

    Markup and highlighting are off (agent text such as ``[bold]`` must print as is) and
    lines are never wrapped, so piped output stays greppable; rich drops colours by itself
    when the stream is not a terminal or ``NO_COLOR`` is set. Tables sent to a pipe get room
    to be as wide as their content (rich would squeeze them into 80 columns).
    """
    file = sys.stderr if stderr else sys.stdout
    piped = not file.isatty() and "COLUMNS" not in os.environ
    return Console(
        file=file,
        width=PIPE_WIDTH if piped else None,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


def print_json(out: Console, data: Any) -> None:
    """Indented JSON on stdout, for ``--json`` listings."""
    out.file.write(json.dumps(data, indent=2, default=str) + "\n")
    out.file.flush()


# --- argument types ------------------------------------------------------------------------


def known_agent(name: str) -> str:
    """``--agent NAME``: a registry name, checked before anything starts."""
    if name not in KNOWN_AGENTS:
        known = ", ".join(KNOWN_AGENTS)
        raise argparse.ArgumentTypeError(
            f"unknown agent {name!r} (known: {known}); use --command for any other ACP program"
        )
    return name


def seconds(text: str) -> float:
    """A non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def directory(text: str) -> str:
    """An existing directory: a missing workspace is a typo, not an agent failure."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a directory: {text!r}")
    return text


def positive(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_store(parser: argparse.ArgumentParser) -> None:
    """The ``--store PATH`` option every command that reads or writes conversations takes."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the SQLite event store (default: $ACPHOST_HOME/acphost.db or "
        "~/.local/share/acphost/acphost.db)",
    )


# --- errors --------------------------------------------------------------------------------


def cli_hint(
    code: str,
    hint: str,
    *,
    agent: str | None = None,
    stderr_tail: str = "",
    methods: Sequence[Mapping[str, Any]] = (),
) -> str:
    """A hint in the command line's words (the library's speak of its Python API)."""
    if code == "agent_exited":
        if stderr_tail.strip():
            return "the agent's last words on stderr are below; the next turn starts it again"
        return "the agent wrote nothing to stderr; run its command by hand to see why"
    if code == "auth_required":
        if any(m.get("type") == "terminal" for m in methods):
            who = agent if agent in KNOWN_AGENTS else '"CMD ARGS" (the agent\'s command line)'
            return f"log in on this terminal with: acphost agents login {who}"
        entry = KNOWN_AGENTS.get(agent or "")
        if entry is not None and entry.credentials:
            names = " or ".join(entry.credentials)
            return f"set {names} in the environment, or log in with {entry.title} itself"
    return hint


class Report:
    """Prints errors to stderr, each one once, with CLI hints and the agent's stderr tail."""

    def __init__(self, err: Console, agent: str | None = None) -> None:
        self.err = err
        self.agent = agent
        self._seen: set[tuple[str, str]] = set()

    def error(
        self,
        code: str,
        message: str,
        hint: str = "",
        stderr_tail: str | None = None,
        methods: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Print one error, unless the same one was already printed."""
        if (code, message) in self._seen:
            return
        self._seen.add((code, message))
        tail = stderr_tail or ""
        self.err.print(Text.assemble(("error ", "bold red"), (code, "red"), f": {message}"))
        hint = cli_hint(code, hint, agent=self.agent, stderr_tail=tail, methods=methods)
        if hint:
            self.err.print(Text.assemble(("hint: ", "dim"), hint))
        for line in tail.rstrip("\n").splitlines()[-20:]:
            self.err.print(Text("    " + line, style="dim"))

    def clear(self) -> None:
        """Forget what was printed: the next error prints even if it is the same again."""
        self._seen.clear()

    def exception(self, exc: AcphostError) -> None:
        """Print a raised error (once: it may already have come as an error event)."""
        tail = getattr(exc, "stderr_tail", None)
        self.error(exc.code, exc.message, exc.hint, tail, getattr(exc, "methods", ()))


def error_exit(exc: AcphostError) -> int:
    """2 when the command line asked for something wrong (a usage error), else 1."""
    return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR


# --- the store -----------------------------------------------------------------------------


def open_store(path: str | None) -> SQLiteStore:
    """The store at ``path`` (``:memory:`` allowed), else acphost's default one."""
    return SQLiteStore(path if path else default_store_path())


def find_conversation(store: EventStore, key: str) -> ConversationRecord:
    """A conversation by id, or by a unique prefix of its id (ids are long to type)."""
    record = store.get_conversation(key)
    if record is not None:
        return record
    matches = [r for r in store.list_conversations(search=key, limit=1000) if r.id.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(
            f"{key!r} is the start of {len(matches)} conversation ids",
            hint="give more characters of the id",
        )
    raise ConversationNotFound(
        f"no conversation {key!r} in {getattr(store, 'path', 'the store')}",
        hint="`acphost conversations list` shows the stored conversations",
    )


def fold(store: EventStore, record: ConversationRecord) -> tuple[ConversationState, list[Event]]:
    """Rebuild a conversation's state from its stored events, without starting its agent."""
    state = ConversationState(record.id)
    events = [parse_event(r.data) for r in store.iter_events(record.id)]
    for event in events:
        state.apply(event)
    return state, events


def format_time(ts: float) -> str:
    """Local time, to the second."""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
