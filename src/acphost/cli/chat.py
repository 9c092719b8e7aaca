"""``acphost chat``: a multi-turn conversation at the terminal.

Each line is a turn, rendered live; permission requests are asked with the full command or
diff shown. Lines starting with ``/`` are commands (``/help`` lists them).

Input is read all along (one reader for the whole chat: ``cli/_input.py``), so a line typed
while a turn runs is heard at once: the permission question on screen takes it as its answer;
otherwise ``/steer TEXT`` says TEXT to the agent inside the running turn (an agent that cannot
be steered gets it as the next turn, and the chat says which happened), a plain line is queued
as the next turn (turns run in the order typed), ``/cost``, ``/pending``, ``/id`` and ``/help``
answer at once, and ``/mode``/``/model`` switch at once too (ACP lets a client switch at any
time; the agent applies it as it can). ``/quit``, or the end of input, while a turn runs leaves
once that turn and the ones queued behind it end. Between turns, ``/steer TEXT`` is just a turn.

Ctrl-C cancels the running turn (twice: leave); lines queued behind a cancelled turn wait, and
run before the next line (an empty line runs them). At the prompt, Ctrl-C twice or Ctrl-D or
``/quit`` leaves. Leaving prints the id to continue with (``acphost chat --continue ID``).
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
from acphost.cli._elicit import choose_elicitation
from acphost.cli._input import ChatInput
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
from acphost.events import Event, TurnEndedEvent, TurnStartedEvent, UserMessageEvent

__all__ = ["add_parser", "chat_command"]

PROMPT = "you> "
LEAVE_NOTE = "(press Ctrl-C again, Ctrl-D or type /quit to leave)"
HELP = {
    "/help": "this list",
    "/steer TEXT": "say TEXT to the agent while it works (else it is queued as the next turn)",
    "/mode [ID]": "show the agent's modes, or switch to one",
    "/model [NAME]": "show the agent's models, or switch to one",
    "/cost": "tokens and cost so far",
    "/pending": "permission requests and questions waiting for an answer",
    "/id": "this conversation's id, to continue it later",
    "/quit": "leave (Ctrl-D too)",
}
WHILE_WORKING = (
    "While the agent works: a line is queued as the next turn, /steer TEXT joins the running "
    "turn, the other commands answer at once; /quit leaves once the turn ends."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost chat``."""
    chat = sub.add_parser(
        "chat",
        help="talk with an agent, turn after turn",
        description="A conversation at the terminal: each line you type is a turn; typed while "
        "the agent works, it is queued as the next turn, and /steer TEXT says TEXT to the agent "
        "in the running turn. Permission requests are asked with the command or diff shown (or "
        "decided by --allow/--deny). Ctrl-C cancels the turn, twice leaves; /help lists the "
        "commands.",
    )
    add_agent_options(chat, verb="continue")
    chat.set_defaults(func=chat_command)


class Chat:
    """One chat session: takes lines between turns and while one runs, runs turns, answers
    slash commands."""

    conversation: Conversation  # set once opened (the callbacks and the policy come first)

    def __init__(self, out: Console, report: Report, renderer: Renderer, lines: ChatInput) -> None:
        self.out = out
        self.report = report
        self.renderer = renderer
        self.lines = lines
        self.tty = sys.stdin.isatty()
        self.queued: set[int] = set()  # the turns typed while another ran
        self.commands: dict[str, Callable[[str], None]] = {
            "/help": self._help,
            "/mode": self._mode,
            "/model": self._model,
            "/cost": self._cost,
            "/pending": self._pending,
            "/id": self._id,
        }

    # --- output: on a line of its own, never inside the agent's streamed text ------------

    def print(self, *parts: str | tuple[str, str] | Text) -> None:
        """A line of the chat's, under the conversation's lock (the renderer's events take it
        too), so that it never lands inside a line the agent is streaming."""
        with self.conversation.state:
            self.renderer.line(*parts)

    def say(self, text: str, style: str = "dim") -> None:
        """A line of the chat's own (not the agent's)."""
        self.print((text, style))

    def show(self, event: Event) -> None:
        """The event callback: each event, a queued turn's start and every turn's summary."""
        if isinstance(event, TurnStartedEvent) and event.attempt == 1 and event.turn in self.queued:
            self.renderer.line((f"turn {event.turn} (queued): ", "dim"), (event.prompt, "bold"))
        self.renderer.on_event(event)
        if isinstance(event, TurnEndedEvent):
            self.renderer.summary(event, self.conversation.state)

    def read_answer(self, question: Text) -> str:
        """A question's answer (a permission, a field of the agent's form): the next line
        the chat's reader reads."""
        return self.lines.ask(lambda: self.out.print(question, end=""))

    # --- between turns (the main thread) --------------------------------------------------

    def prompt(self) -> None:
        if self.tty:
            self.out.print(Text(PROMPT, style="bold blue"), end="")

    def between(self, line: str) -> bool:
        """A line typed while no turn runs; ``False`` when it says to leave."""
        name, _, rest = line.partition(" ")
        if not line:
            if self.waiting():
                self.turns(None)
            return True
        if name == "/steer":
            if not rest.strip():
                self.say("/steer needs the words to say: /steer TEXT", "yellow")
                return True
            self.say("no turn is running: sent as a turn of its own")
            line = rest.strip()
        elif line.startswith("/"):
            return self.command(line)
        self.turns(line)
        return True

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

    def turns(self, message: str | None) -> None:
        """Run ``message`` as a turn, then every line queued meanwhile, in order; lines typed
        until then go to :meth:`during`."""
        self.lines.busy(self.during)
        try:
            while self._run(message) and not self.lines.idle(unless=lambda: self.waiting() > 0):
                message = None  # a line was queued after the run saw the last turn end
        finally:
            self.lines.idle()
        waiting = self.waiting()
        if waiting:
            what = (
                "1 queued line waits: it runs"
                if waiting == 1
                else f"{waiting} queued lines wait: they run"
            )
            self.say(f"{what} before your next line (an empty line: now)")

    def _run(self, message: str | None) -> bool:
        """One ``run()``: whether it went through (not cancelled, no error)."""
        self.report.clear()  # each turn's errors are news, even when they repeat the last's
        if self.out.is_terminal:
            self.renderer.start_spinner(f"{self.conversation.agent.name} is working…")
        try:
            self.conversation.run(message)
        except AcphostError as exc:
            self.report.exception(exc)
            return False
        finally:
            self.renderer.stop_spinner()
        with self.conversation.state:
            return self.conversation.state.status != "paused"

    def waiting(self) -> int:
        """How many lines typed during a turn have not run yet."""
        with self.conversation.state:
            return max(0, max(self.queued, default=0) - self.conversation.state.turns)

    # --- while a turn runs (the dispatcher thread) ----------------------------------------

    def during(self, line: str | None) -> bool:
        """A line typed while a turn runs (``None``: input ended); ``False`` leaves it to
        :meth:`between`, for after the turn."""
        if line is None:
            self.say("input ended: leaving once the turn ends (Ctrl-C cancels it now)")
            return False
        with self.conversation.state:
            if self.conversation.state.status in ("paused", "error"):
                return False  # typed after a cancelled or failed turn ended: a line of its own
        line = line.strip()
        name, _, rest = line.partition(" ")
        if name in ("/quit", "/exit"):
            self.say("leaving once the turn ends (Ctrl-C cancels it now)")
            return False
        try:
            if name == "/steer":
                self._steer(rest.strip())
            elif line.startswith("/"):
                self.command(line)
            elif line:
                hint = " (/steer TEXT says it now)" if self._steerable() else ""
                with self.conversation.state:  # the note right under the line it is about
                    self._queued(self.conversation.send_message(line), "queued", hint)
        except AcphostError as exc:
            self.report.exception(exc)
        return True

    def _steer(self, text: str) -> None:
        if not text:
            self.say("/steer needs the words to say: /steer TEXT", "yellow")
            return
        said = self.conversation.steer(text)
        if said.steered:
            self.say(f"steered into turn {said.turn}: the agent has it now")
        elif self._steerable():
            self._queued(said, "the turn ended first: queued")
        else:
            self._queued(said, f"{self.conversation.agent.name} cannot be steered: queued")

    def _steerable(self) -> bool:
        return self.conversation.agent.supports_steering

    def _queued(self, said: UserMessageEvent, what: str, hint: str = "") -> None:
        assert said.turn is not None
        self.queued.add(said.turn)
        self.say(f"{what} as turn {said.turn}: it runs once the turn before it ends{hint}")

    # --- commands -------------------------------------------------------------------------

    def _help(self, _: str) -> None:
        width = max(map(len, HELP)) + 2
        for name, what in HELP.items():
            self.print((name.ljust(width), "bold"), what)
        self.say(WHILE_WORKING)

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
            self.print(f"{mark} {entry.get('id')}  {entry.get('name') or ''}".rstrip())

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
            self.print(f"{'*' if value == current else ' '} {value}")

    def _cost(self, _: str) -> None:
        state = self.conversation.state
        with state:
            turns, usage, cost, currency = state.turns, state.usage, state.cost, state.currency
        parts = [f"{turns} turn{'s' if turns != 1 else ''}", format_usage(usage)]
        parts.append("cost unknown" if cost is None else f"cost {format_cost(cost, currency)}")
        self.print(" · ".join(parts))

    def _pending(self, _: str) -> None:
        state = self.conversation.state
        with state:
            pending = list(state.pending_permissions.values())
            asked = list(state.pending_elicitations.values())
        if not pending and not asked:
            self.say("no permission request or question is waiting")
        for request in pending:
            self.print(f"{request.request_id}  {request.title or request.tool_call_id}")
        for question in asked:
            self.print(f"{question.request_id}  {question.message}")

    def _id(self, _: str) -> None:
        self.print(self.conversation.id)


def _goodbye(out: Console, conversation: Conversation, store: str | None) -> None:
    again = f"acphost chat --continue {conversation.id}"
    if store:
        again += f" --store {shlex.quote(store)}"
    out.print(Text.assemble(("continue with: ", "dim"), again))


def _loop(chat: Chat, interrupter: Interrupter) -> None:
    while True:
        try:
            chat.prompt()
            line = chat.lines.next()
        except KeyboardInterrupt:
            if interrupter.count > 1:
                raise
            chat.out.print()
            chat.say(LEAVE_NOTE)
            continue
        if line is None:
            if chat.tty:
                chat.out.print()  # Ctrl-D left the cursor after the prompt
            return
        interrupter.count = 0
        if not chat.between(line.strip()):
            return
        interrupter.count = 0


def chat_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Chat until the person leaves; 0 on a normal leave, 130 on a double Ctrl-C."""
    lines = ChatInput(sys.stdin.fileno(), sys.stdin.encoding or "utf-8")
    try:
        return _chat(args, out, err, lines)
    finally:
        lines.close()


def _chat(args: argparse.Namespace, out: Console, err: Console, lines: ChatInput) -> int:
    interrupter = Interrupter()
    report = Report(err)
    renderer = Renderer(out, verbose=args.verbose, report=report)
    chat = Chat(out, report, renderer, lines)
    tap = Tap(interrupter, chat.show)
    policy = choose_policy(args, out, err, interrupter, renderer, read=chat.read_answer)
    elicitation = choose_elicitation(args, out, interrupter, renderer, read=chat.read_answer)
    conversation = open_conversation(args, tap, renderer, policy, elicitation)
    chat.conversation = conversation
    report.agent = conversation.agent.name
    renderer.workspace = str(conversation.workspace.root)
    interrupter.conversation = conversation
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
        _loop(chat, interrupter)
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
