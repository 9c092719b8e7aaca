"""What every ``acphost`` command shares: consoles, exit codes, the store, error reports."""

from __future__ import annotations

import os
import sys
from datetime import datetime

from rich.console import Console
from rich.text import Text

from acphost.conversation import ConversationState
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
    "find_conversation",
    "fold",
    "format_time",
    "make_console",
    "open_store",
    "print_error",
]

EXIT_OK = 0
EXIT_ERROR = 1  # a typed AcphostError
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_STOPPED = 3  # the turn ended, but not with end_turn (max_tokens, refusal...)
EXIT_CANCELLED = 130  # 128 + SIGINT, as shells report a Ctrl-C
PIPE_WIDTH = 200


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


def print_error(err: Console, exc: AcphostError) -> None:
    """``error <code>: message`` and its hint: the code is for scripts, the hint for people."""
    err.print(Text.assemble(("error ", "bold red"), (exc.code, "red"), f": {exc.message}"))
    if exc.hint:
        err.print(Text.assemble(("hint: ", "dim"), exc.hint))


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
    raise ConversationNotFound(f"no conversation {key!r} in {getattr(store, 'path', 'the store')}")


def fold(store: EventStore, record: ConversationRecord) -> tuple[ConversationState, list[Event]]:
    """Rebuild a conversation's state from its stored events, without starting its agent."""
    state = ConversationState(record.id)
    events = [parse_event(r.data) for r in store.iter_events(record.id)]
    for event in events:
        state.apply(event)
    return state, events


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
