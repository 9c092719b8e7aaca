"""``acphost run``: one turn with an agent (or one more turn of a stored conversation),
rendered live or as JSON lines, Ctrl-C aware.

With ``--json`` the first line is ``{"type": "conversation", "id": ..., "agent": ...,
"workspace": ...}`` (so a script can ``show`` or ``replay`` what it ran, even when the run
fails), then one line per event (events carry ``kind``, never ``type``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from acphost.cli._common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_STOPPED,
    Report,
    error_exit,
)
from acphost.cli._elicit import choose_elicitation
from acphost.cli._live import (
    Interrupter,
    Tap,
    add_agent_options,
    choose_policy,
    open_conversation,
    set_model,
)
from acphost.cli._render import Renderer
from acphost.conversation import Conversation
from acphost.errors import AcphostError, UsageError
from acphost.events import Event, TurnEndedEvent

__all__ = ["add_parser", "exit_code", "read_prompt", "run_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost run``."""
    run = sub.add_parser(
        "run",
        help="run one turn with an agent",
        description="Send PROMPT to an agent and show what it does, live. Permission requests "
        "are asked at the terminal, or decided by --allow/--deny (denied when stdin is not a "
        "terminal). Ctrl-C once cancels the turn cleanly; twice exits at once.",
    )
    add_agent_options(run, verb="run one more turn of")
    run.add_argument(
        "--json",
        action="store_true",
        help='print JSON lines only: first {"type": "conversation", "id": ...}, then the events',
    )
    run.add_argument("prompt", nargs="+", metavar="PROMPT", help='the message ("-": read stdin)')
    run.set_defaults(func=run_command)


def read_prompt(words: list[str]) -> str:
    """The prompt from the command line (``-``: stdin); an empty one is a usage error."""
    prompt = " ".join(words)
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("the prompt is empty", hint="say what the agent should do")
    return prompt


def _json_printer(out: Console) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        out.file.write(event.model_dump_json() + "\n")
        out.file.flush()

    return show


def _announce(out: Console, conversation: Conversation) -> None:
    head: dict[str, Any] = {
        "type": "conversation",
        "id": conversation.id,
        "agent": conversation.agent.name,
        "workspace": str(conversation.workspace.root),
    }
    out.file.write(json.dumps(head) + "\n")
    out.file.flush()


def exit_code(ended: TurnEndedEvent | None) -> int:
    """How a turn ended, as the process's exit code (see ``acphost --help``)."""
    if ended is None:
        return EXIT_ERROR
    if ended.stop_reason == "end_turn":
        return EXIT_OK
    if ended.stop_reason == "cancelled":
        return EXIT_CANCELLED
    return EXIT_ERROR if ended.stop_reason == "error" else EXIT_STOPPED


def run_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run one turn; the exit code tells how it ended (see ``acphost --help``)."""
    prompt = read_prompt(args.prompt)
    interrupter = Interrupter()
    report = Report(err)
    renderer = None if args.json else Renderer(out, verbose=args.verbose, report=report)
    tap = Tap(interrupter, _json_printer(out) if renderer is None else renderer.on_event)
    asking = err if args.json else out
    policy = choose_policy(args, asking, err, interrupter, renderer)
    elicitation = choose_elicitation(args, asking, interrupter, renderer)
    conversation = open_conversation(args, tap, renderer, policy, elicitation)
    report.agent = conversation.agent.name
    if renderer is None:
        _announce(out, conversation)
    else:
        renderer.workspace = str(conversation.workspace.root)
    interrupter.conversation = conversation
    previous = signal.signal(signal.SIGINT, interrupter)
    error: AcphostError | None = None
    try:
        if renderer is not None and out.is_terminal:
            renderer.start_spinner(f"starting {conversation.agent.name}…")
        try:
            if args.mode:
                conversation.set_mode(args.mode)
            if args.model:
                set_model(conversation, args.model)
            conversation.run(prompt)
        except AcphostError as exc:
            error = exc
        finally:
            if renderer is not None:
                renderer.stop_spinner()
    except KeyboardInterrupt:
        # Leave now: the I/O loop's bounded exit shutdown (and the reaper) stop the agent.
        # A third Ctrl-C kills the process outright.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if renderer is not None:
            renderer.stop_spinner()
        out.file.flush()
        err.print(Text("interrupted", style="yellow"))
        return EXIT_CANCELLED
    signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    ended = tap.ended
    if renderer is not None:
        if ended is not None:
            renderer.summary(ended, conversation.state)
        else:  # stopped before a turn began (a bad --mode...): still say what to continue
            out.print(Text.assemble(("   conversation: ", "dim"), conversation.id))
    conversation.close()
    if error is not None:
        report.exception(error)
        return error_exit(error)
    return exit_code(ended)
