"""``acphost run``: one turn with an agent, rendered live (or as JSON lines), Ctrl-C aware."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Callable
from types import FrameType

from rich.console import Console
from rich.text import Text

from acphost._cli_common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_STOPPED,
    open_store,
    print_error,
)
from acphost._render import Renderer
from acphost.acp.permissions import Decision, PermissionRequest
from acphost.conversation import Conversation, PermissionPolicy
from acphost.errors import AcphostError
from acphost.events import (
    Event,
    SessionEvent,
    TurnEndedEvent,
    TurnStartedEvent,
)

__all__ = ["run_command"]

INTERRUPT_NOTE = "interrupting… press Ctrl-C again to exit"


class Interrupter:
    """The SIGINT handler of a run.

    During a turn the first Ctrl-C cancels it cleanly (``interrupt()``: the turn ends
    ``cancelled`` and everything is recorded); the second raises ``KeyboardInterrupt`` to
    leave at once. While the agent is still starting there is no turn to cancel, so the first
    Ctrl-C leaves at once too. A Ctrl-C at a permission prompt also ends the prompt.
    """

    def __init__(self) -> None:
        self.conversation: Conversation | None = None
        self.count = 0
        self.session_up = False
        self.turn_started = False
        self.prompting = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1 or self.conversation is None or not self.cancellable:
            raise KeyboardInterrupt
        # Plain writes: rich's console may be mid-print on this very thread.
        sys.stderr.write(f"\n{INTERRUPT_NOTE}\n")
        sys.stderr.flush()
        self.conversation.interrupt()
        if self.prompting:
            raise KeyboardInterrupt  # caught by the prompt, which answers "cancelled"

    @property
    def cancellable(self) -> bool:
        return self.session_up and self.turn_started


class Tap:
    """The run's event callback: tracks what the interrupter needs and the turn's end."""

    def __init__(self, interrupter: Interrupter, show: Callable[[Event], object]) -> None:
        self.interrupter = interrupter
        self.show = show
        self.ended: TurnEndedEvent | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionEvent):
            self.interrupter.session_up = True
        elif isinstance(event, TurnStartedEvent):
            self.interrupter.turn_started = True
        elif isinstance(event, TurnEndedEvent):
            self.ended = event
            self.interrupter.turn_started = False
        self.show(event)


def _json_printer(out: Console) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        out.file.write(event.model_dump_json() + "\n")
        out.file.flush()

    return show


def _ask_on_terminal(
    console: Console, interrupter: Interrupter, renderer: Renderer | None
) -> Callable[[PermissionRequest], Decision]:
    """Ask the person at the terminal; runs on the caller's thread, so it can read stdin."""

    def ask(request: PermissionRequest) -> Decision:
        if renderer is not None:
            renderer.stop_spinner()
        interrupter.prompting = True
        try:
            answer = console.input(Text(f"Allow {request.title}? [y/N/a(lways)] ", style="bold"))
        except EOFError:
            return "reject_once"
        except KeyboardInterrupt:
            if interrupter.count > 1:
                raise
            console.print()
            return "cancelled"
        finally:
            interrupter.prompting = False
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return "allow_once"
        if answer in ("a", "always"):
            return "allow_always"
        return "reject_once"

    return ask


def _deny_with_note(err: Console) -> Callable[[PermissionRequest], Decision]:
    """Nobody can answer a prompt: deny, and say why and how to allow."""

    def deny(request: PermissionRequest) -> Decision:
        err.print(
            Text(
                f"note: stdin is not a terminal, so {request.title!r} was denied "
                "(pass --allow to allow, --deny to silence this note)",
                style="yellow",
            )
        )
        return "reject_once"

    return deny


def _timeout(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return value if value > 0 else None


def run_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run one turn; the exit code tells how it ended (see ``acphost --help``)."""
    prompt = " ".join(args.prompt)
    if prompt == "-":
        prompt = sys.stdin.read()
    interrupter = Interrupter()
    renderer = None if args.json else Renderer(out, verbose=args.verbose)
    tap = Tap(interrupter, _json_printer(out) if renderer is None else renderer.on_event)
    policy: PermissionPolicy
    if args.allow:
        policy = "allow"
    elif args.deny:
        policy = "deny"
    elif sys.stdin.isatty():
        policy = _ask_on_terminal(err if args.json else out, interrupter, renderer)
    else:
        policy = _deny_with_note(err)
    agent = shlex.split(args.command) if args.command else args.agent
    conversation = Conversation(
        agent,
        args.cwd,
        store=open_store(args.store),
        callbacks=[tap],
        on_token=renderer.on_token if renderer else None,
        on_thought=renderer.on_thought if renderer else None,
        permission=policy,
        idle_timeout=_timeout(args.idle_timeout, 600.0),
        turn_timeout=_timeout(args.turn_timeout, None),
        system_prompt=args.system_prompt,
        system_prompt_mode="override" if args.override_system_prompt else "append",
    )
    if renderer is not None:
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
                conversation.set_model(args.model)
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
    if renderer is not None and ended is not None:
        renderer.summary(ended, conversation.state)
    conversation.close()
    if error is not None:
        print_error(err, error)
        return EXIT_ERROR
    if ended is None:
        return EXIT_ERROR
    if ended.stop_reason == "end_turn":
        return EXIT_OK
    return EXIT_CANCELLED if ended.stop_reason == "cancelled" else EXIT_STOPPED
