"""What ``acphost run`` and ``acphost chat`` share: the agent options, Ctrl-C handling,
permission prompts, opening (or continuing) a conversation, and switching mode and model."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from rich.console import Console
from rich.text import Text

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.cli._common import (
    add_store,
    directory,
    find_conversation,
    known_agent,
    open_store,
    seconds,
)
from acphost.cli._render import Renderer
from acphost.conversation import (
    Conversation,
    ConversationState,
    ElicitationPolicy,
    PermissionPolicy,
)
from acphost.errors import UsageError
from acphost.events import Event, SessionEvent, TurnEndedEvent, TurnStartedEvent

__all__ = [
    "INTERRUPT_NOTE",
    "Interrupter",
    "Tap",
    "add_agent_options",
    "choose_policy",
    "open_conversation",
    "option_values",
    "set_model",
]

INTERRUPT_NOTE = "interrupting… press Ctrl-C again to exit"


def add_agent_options(parser: argparse.ArgumentParser, *, verb: str) -> None:
    """Which agent (or which stored conversation), where, and how permissions are decided."""
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", metavar="NAME", type=known_agent, help="a known agent's name")
    who.add_argument("--command", metavar="CMD", help='any ACP agent\'s command line ("CMD ARGS")')
    who.add_argument(
        "--continue",
        dest="continue_id",
        metavar="ID",
        help=f"{verb} a stored conversation (its id, or a unique prefix), with its agent",
    )
    parser.add_argument(
        "--cwd",
        default=".",
        type=directory,
        metavar="DIR",
        help="the workspace (default: .; a continued conversation keeps its own)",
    )
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument("--allow", action="store_true", help="allow every permission request")
    decide.add_argument(
        "--deny",
        action="store_true",
        help="deny every permission request and decline every question the agent asks",
    )
    add_store(parser)
    _add_limits(parser)
    _add_session_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tool output in full")


def _add_limits(parser: argparse.ArgumentParser) -> None:
    """When a turn is cancelled (or said to be stalled): time limits and the budget."""
    parser.add_argument(
        "--idle-timeout",
        type=seconds,
        metavar="S",
        help="cancel the turn after S seconds without a word from the agent "
        "(default 600; 0: never)",
    )
    parser.add_argument(
        "--turn-timeout", type=seconds, metavar="S", help="cancel the turn after S seconds"
    )
    parser.add_argument(
        "--stall-after",
        type=seconds,
        metavar="S",
        help="say so when a turn makes no progress for S seconds (default 60; 0: never)",
    )
    parser.add_argument(
        "--max-cost",
        type=float,
        metavar="AMOUNT",
        help="cancel the turn once the conversation cost more (in the agent's currency)",
    )


def _add_session_options(parser: argparse.ArgumentParser) -> None:
    """What the agent's session is set up with before the first turn."""
    parser.add_argument("--mode", help="switch the agent to this session mode first")
    parser.add_argument("--model", help="switch the agent to this model first")
    parser.add_argument(
        "--system-prompt",
        metavar="TEXT",
        help="instructions added to the agent's system prompt (the agent must support it; "
        "a continued conversation keeps its own unless given)",
    )
    parser.add_argument(
        "--override-system-prompt",
        action="store_true",
        help="--system-prompt replaces the agent's own system prompt instead",
    )


class Interrupter:
    """The SIGINT handler of a turn.

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
        # Interrupt first: a second Ctrl-C may come while the note is written, and the
        # conversation stops an agent that ignores the cancel only on a second interrupt.
        self.conversation.interrupt()
        # Plain writes: rich's console may be mid-print on this very thread.
        sys.stderr.write(f"\n{INTERRUPT_NOTE}\n")
        sys.stderr.flush()
        if self.prompting:
            raise KeyboardInterrupt  # caught by the prompt, which answers "cancelled"

    @property
    def cancellable(self) -> bool:
        return self.session_up and self.turn_started


class Tap:
    """The event callback of a live run: tracks what the interrupter needs and the turn's end."""

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


# --- permissions ---------------------------------------------------------------------------


def _ask_on_terminal(
    console: Console,
    interrupter: Interrupter,
    renderer: Renderer | None,
    read: Callable[[Text], str] | None,
) -> Callable[[PermissionRequest], Decision]:
    """Ask the person at the terminal, showing the full command or diff first.

    It runs on the caller's thread (the driver). ``read`` shows the question and returns the
    answer (a chat's own reader of stdin); by default the question reads stdin itself.
    """
    read_answer = read or console.input

    def ask(request: PermissionRequest) -> Decision:
        if renderer is not None:
            renderer.stop_spinner()
            conversation = interrupter.conversation
            renderer.show_request(
                request.tool_call_data, None if conversation is None else conversation.state
            )
        interrupter.prompting = True
        try:
            answer = read_answer(Text(f"Allow {request.title}? [y/N/a(lways)] ", style="bold"))
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


def choose_policy(
    args: argparse.Namespace,
    console: Console,
    err: Console,
    interrupter: Interrupter,
    renderer: Renderer | None,
    read: Callable[[Text], str] | None = None,
) -> PermissionPolicy:
    """``--allow``/``--deny``, else ask at a terminal (``read``: how to show the question and
    read its answer, if not from stdin directly), else deny with a note."""
    if args.allow:
        return "allow"
    if args.deny:
        return "deny"
    if sys.stdin.isatty():
        return _ask_on_terminal(console, interrupter, renderer, read)
    return _deny_with_note(err)


# --- opening, mode and model ---------------------------------------------------------------


def _timeout(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return value if value > 0 else None


def open_conversation(
    args: argparse.Namespace,
    tap: Tap,
    renderer: Renderer | None,
    policy: PermissionPolicy,
    elicitation: ElicitationPolicy = "decline",
) -> Conversation:
    """A new conversation with ``--agent``/``--command``, or the stored one ``--continue``
    names (its agent and workspace come from the store)."""
    options: dict[str, Any] = {
        "callbacks": [tap],
        "on_token": renderer.on_token if renderer else None,
        "on_thought": renderer.on_thought if renderer else None,
        "permission": policy,
        "elicitation": elicitation,
        "idle_timeout": _timeout(args.idle_timeout, 600.0),
        "turn_timeout": _timeout(args.turn_timeout, None),
        "stall_timeout": _timeout(args.stall_after, 60.0),
        "max_cost": args.max_cost,
    }
    if args.system_prompt:
        options["system_prompt"] = args.system_prompt
        options["system_prompt_mode"] = "override" if args.override_system_prompt else "append"
    elif args.override_system_prompt:
        raise UsageError(
            "--override-system-prompt needs --system-prompt", hint="give the system prompt text"
        )
    store = open_store(args.store)
    if args.continue_id:
        record = find_conversation(store, args.continue_id)
        return Conversation.resume(record.id, store=store, **options)
    agent = shlex.split(args.command) if args.command else args.agent
    return Conversation(agent, args.cwd, store=store, **options)


def option_values(option: dict[str, Any]) -> list[str]:
    """The values a select config option offers (grouped or flat)."""
    values: list[str] = []
    for item in option.get("options") or []:
        if isinstance(item, dict) and "group" in item:
            values += [str(o.get("value")) for o in item.get("options") or []]
        elif isinstance(item, dict):
            values.append(str(item.get("value")))
    return values


def set_model(conversation: Conversation, model: str) -> None:
    """Switch the model; starts the agent first, since only its session says what it offers."""
    conversation.start()
    state: ConversationState = conversation.state
    with state:
        option = state.model_option
    if option is None:
        raise UsageError(
            f"{conversation.agent.name} offers no choice of model",
            hint="leave out --model to use the agent's own default",
        )
    values = option_values(option)
    if values and model not in values:
        raise UsageError(
            f"{conversation.agent.name} offers no model {model!r}",
            hint=f"its models: {', '.join(values)}",
        )
    conversation.set_config_option(str(option["id"]), model)
