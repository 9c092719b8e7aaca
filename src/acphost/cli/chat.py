"""``acphost chat``: a multi-turn conversation at the terminal.

Each line is a turn, rendered live; permission requests are asked with the full command or
diff shown. Ctrl-C cancels the running turn (twice: leave); at the prompt, Ctrl-C twice or
Ctrl-D or ``/quit`` leaves. Lines starting with ``/`` are commands (``/help`` lists them).
Leaving prints the id to continue with (``acphost chat --continue ID``).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from acphost.cli._common import EXIT_CANCELLED, EXIT_OK, Report
from acphost.cli._live import (
    Interrupter,
    Tap,
    add_agent_options,
    choose_policy,
    open_conversation,
    option_values,
    set_model,
)
from acphost.cli._render import Renderer
from acphost.cli._wording import format_cost, format_usage
from acphost.conversation import Conversation
from acphost.errors import AcphostError

__all__ = ["add_parser", "chat_command"]

PROMPT = "you> "
LEAVE_NOTE = "(press Ctrl-C again, Ctrl-D or type /quit to leave)"
HELP = {
    "/help": "this list",
    "/mode [ID]": "show the agent's modes, or switch to one",
    "/model [NAME]": "show the agent's models, or switch to one",
    "/cost": "tokens and cost so far",
    "/pending": "permission requests waiting for an answer",
    "/id": "this conversation's id, to continue it later",
    "/quit": "leave (Ctrl-D too)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost chat``."""
    chat = sub.add_parser(
        "chat",
        help="talk with an agent, turn after turn",
        description="A conversation at the terminal: each line you type is a turn. Permission "
        "requests are asked with the command or diff shown (or decided by --allow/--deny). "
        "Ctrl-C cancels the turn, twice leaves; /help lists the commands.",
    )
    add_agent_options(chat, verb="continue")
    chat.set_defaults(func=chat_command)


class Chat:
    """One chat session: reads lines, runs turns, answers slash commands."""

    def __init__(self, conversation: Conversation, out: Console, report: Report) -> None:
        self.conversation = conversation
        self.out = out
        self.report = report
        self.commands: dict[str, Callable[[str], None]] = {
            "/help": self._help,
            "/mode": self._mode,
            "/model": self._model,
            "/cost": self._cost,
            "/pending": self._pending,
            "/id": self._id,
        }

    def read(self) -> str | None:
        """The next line; ``None`` at end of input."""
        if sys.stdin.isatty():
            try:
                return self.out.input(Text(PROMPT, style="bold blue"))
            except EOFError:
                self.out.print()  # Ctrl-D left the cursor after the prompt
                return None
        line = sys.stdin.readline()
        return line if line else None

    def command(self, line: str) -> bool:
        """Run a slash command; ``False`` when it says to leave."""
        name, _, rest = line.partition(" ")
        if name in ("/quit", "/exit"):
            return False
        handler = self.commands.get(name)
        if handler is None:
            self.say(f"unknown command {name}; /help lists them", "yellow")
            return True
        try:
            handler(rest.strip())
        except AcphostError as exc:
            self.report.exception(exc)
        return True

    def say(self, text: str, style: str = "dim") -> None:
        """A line of the chat's own (not the agent's)."""
        self.out.print(Text(text, style=style))

    def _help(self, _: str) -> None:
        width = max(map(len, HELP)) + 2
        for name, what in HELP.items():
            self.out.print(Text.assemble((name.ljust(width), "bold"), what))

    def _mode(self, mode: str) -> None:
        if mode:
            self.conversation.set_mode(mode)
            return
        self.conversation.start()
        state = self.conversation.state
        with state:
            modes, current = list(state.modes), state.mode_id
        if not modes:
            self.say(f"{self.conversation.agent.name} offers no modes")
        for entry in modes:
            mark = "*" if entry.get("id") == current else " "
            self.out.print(f"{mark} {entry.get('id')}  {entry.get('name') or ''}".rstrip())

    def _model(self, model: str) -> None:
        if model:
            set_model(self.conversation, model)
            return
        self.conversation.start()
        state = self.conversation.state
        with state:
            option, current = state.model_option, state.model
        if option is None:
            self.say(f"{self.conversation.agent.name} offers no choice of model")
            return
        for value in option_values(option):
            self.out.print(f"{'*' if value == current else ' '} {value}")

    def _cost(self, _: str) -> None:
        state = self.conversation.state
        with state:
            turns, usage, cost, currency = state.turns, state.usage, state.cost, state.currency
        parts = [f"{turns} turn{'s' if turns != 1 else ''}", format_usage(usage)]
        parts.append("cost unknown" if cost is None else f"cost {format_cost(cost, currency)}")
        self.out.print(" · ".join(parts))

    def _pending(self, _: str) -> None:
        state = self.conversation.state
        with state:
            pending = list(state.pending_permissions.values())
        if not pending:
            self.say("no permission request is waiting")
        for request in pending:
            self.out.print(f"{request.request_id}  {request.title or request.tool_call_id}")

    def _id(self, _: str) -> None:
        self.out.print(self.conversation.id)


def _goodbye(out: Console, conversation: Conversation, store: str | None) -> None:
    again = f"acphost chat --continue {conversation.id}"
    if store:
        again += f" --store {shlex.quote(store)}"
    out.print(Text.assemble(("continue with: ", "dim"), again))


def _turn(chat: Chat, tap: Tap, renderer: Renderer, line: str) -> None:
    tap.ended = None
    chat.report.clear()  # each turn's errors are news, even when they repeat the last turn's
    if chat.out.is_terminal:
        renderer.start_spinner(f"{chat.conversation.agent.name} is working…")
    try:
        chat.conversation.run(line)
    except AcphostError as exc:
        chat.report.exception(exc)
    finally:
        renderer.stop_spinner()
    if tap.ended is not None:
        renderer.summary(tap.ended, chat.conversation.state)


def _loop(chat: Chat, interrupter: Interrupter, tap: Tap, renderer: Renderer) -> None:
    while True:
        try:
            line = chat.read()
        except KeyboardInterrupt:
            if interrupter.count > 1:
                raise
            chat.out.print()
            chat.say(LEAVE_NOTE)
            continue
        if line is None:
            return
        interrupter.count = 0
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not chat.command(line):
                return
            continue
        _turn(chat, tap, renderer, line)
        interrupter.count = 0


def chat_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Chat until the person leaves; 0 on a normal leave, 130 on a double Ctrl-C."""
    interrupter = Interrupter()
    report = Report(err)
    renderer = Renderer(out, verbose=args.verbose, report=report)
    tap = Tap(interrupter, renderer.on_event)
    policy = choose_policy(args, out, err, interrupter, renderer)
    conversation = open_conversation(args, tap, renderer, policy)
    report.agent = conversation.agent.name
    renderer.workspace = str(conversation.workspace.root)
    interrupter.conversation = conversation
    chat = Chat(conversation, out, report)
    previous = signal.signal(signal.SIGINT, interrupter)
    how = "continuing" if args.continue_id else "chatting with"
    out.print(
        Text.assemble(
            (f"{how} {conversation.agent.name} in {renderer.workspace}", "bold"),
            (" · /help lists commands · /quit or Ctrl-D leaves", "dim"),
        )
    )
    code = EXIT_OK
    try:
        for name, value in (("/mode", args.mode), ("/model", args.model)):
            if value:
                chat.command(f"{name} {value}")
        _loop(chat, interrupter, tap, renderer)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        renderer.stop_spinner()
        err.print(Text("interrupted", style="yellow"))
        code = EXIT_CANCELLED
    else:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        conversation.close()
    _goodbye(out, conversation, args.store)
    return code
