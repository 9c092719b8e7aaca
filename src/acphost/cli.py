"""The ``acphost`` command: run agents, list them, browse and replay stored conversations.

Exit codes: 0 the turn ended with ``end_turn`` (or the command succeeded), 1 an acphost error
(its code, message and hint go to stderr), 2 a bad command line, 3 the turn stopped for
another reason (``max_tokens``, ``refusal``...), 130 cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from acphost._cli_common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_USAGE,
    make_console,
    print_error,
)
from acphost._cli_run import run_command
from acphost._cli_store import agents_command, list_command, replay_command, show_command
from acphost.agents import KNOWN_AGENTS
from acphost.errors import AcphostError

__all__ = ["build_parser", "main"]


def _known_agent(name: str) -> str:
    if name not in KNOWN_AGENTS:
        known = ", ".join(KNOWN_AGENTS)
        raise argparse.ArgumentTypeError(
            f"unknown agent {name!r} (known: {known}); use --command for any other ACP program"
        )
    return name


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def _directory(text: str) -> str:
    # Checked here: a missing workspace is a typo on the command line, not an agent failure.
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a directory: {text!r}")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the SQLite event store (default: $ACPHOST_HOME/acphost.db or "
        "~/.local/share/acphost/acphost.db)",
    )


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run one turn with an agent",
        description="Send PROMPT to an agent and show what it does, live. Permission requests "
        "are asked at the terminal, or decided by --allow/--deny (denied when stdin is not a "
        "terminal). Ctrl-C once cancels the turn cleanly; twice exits at once.",
    )
    who = run.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", metavar="NAME", type=_known_agent, help="a known agent's name")
    who.add_argument("--command", metavar="CMD", help='any ACP agent\'s command line ("CMD ARGS")')
    run.add_argument(
        "--cwd", default=".", type=_directory, metavar="DIR", help="the workspace (default: .)"
    )
    decide = run.add_mutually_exclusive_group()
    decide.add_argument("--allow", action="store_true", help="allow every permission request")
    decide.add_argument("--deny", action="store_true", help="deny every permission request")
    run.add_argument("--json", action="store_true", help="print events as JSON lines, only")
    _add_store(run)
    run.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="S",
        help="cancel the turn after S seconds without a word from the agent "
        "(default 600; 0: never)",
    )
    run.add_argument(
        "--turn-timeout", type=_seconds, metavar="S", help="cancel the turn after S seconds"
    )
    run.add_argument("--mode", help="switch the agent to this session mode first")
    run.add_argument("--model", help="switch the agent to this model first")
    run.add_argument("-v", "--verbose", action="store_true", help="show tool output in full")
    run.add_argument("prompt", nargs="+", metavar="PROMPT", help='the message ("-": read stdin)')
    run.set_defaults(func=run_command)


def _add_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="a conversation id (or a unique prefix)")
    _add_store(parser)
    parser.add_argument("--json", action="store_true", help="print the events as JSON lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tool output in full")
    parser.set_defaults(func=replay_command)


def _add_conversations(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conversations = sub.add_parser("conversations", help="browse stored conversations")
    what = conversations.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = what.add_parser("list", help="stored conversations, newest first")
    _add_store(listing)
    listing.add_argument("--status", help="idle, running, paused, finished or error")
    listing.add_argument("--agent", metavar="A", help="only this agent's conversations")
    listing.add_argument("--search", metavar="Q", help="a substring of the title or id")
    listing.add_argument("--limit", type=_positive, default=20, metavar="N", help="default 20")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=list_command)
    show = what.add_parser("show", help="a conversation's state (its agent is not started)")
    show.add_argument("id", metavar="ID", help="a conversation id (or a unique prefix)")
    _add_store(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=show_command)
    _add_replay(what.add_parser("replay", help="show a stored conversation as it ran"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acphost",
        description="Host coding agents that speak the Agent Client Protocol.",
        epilog="exit codes: 0 done (end_turn), 1 error, 2 bad usage, 3 stopped for another "
        "reason (max_tokens, refusal...), 130 cancelled (Ctrl-C)",
    )
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    _add_run(sub)
    agents = sub.add_parser("agents", help="known agents: installed or not, how to install")
    agents.add_argument("--json", action="store_true", help="print a JSON array")
    agents.set_defaults(func=agents_command)
    _add_conversations(sub)
    _add_replay(sub.add_parser("replay", help="alias of: conversations replay"))
    _add_serve(sub)
    from acphost.jobs._cli import add_parser as add_jobs  # the jobs commands (own module)

    add_jobs(sub)
    return parser


def _add_serve(sub: Any) -> None:
    # The server's own module parses its options; it is imported only when serving, so the
    # other commands never pay for FastAPI.
    from acphost.server._cli import add_arguments

    serve = sub.add_parser("serve", help="serve conversations over HTTP and WebSocket")
    add_arguments(serve)
    serve.set_defaults(func=_serve_command)


def _serve_command(args: argparse.Namespace, out: Any, err: Any) -> int:
    from acphost.server._cli import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out, err = make_console(), make_console(stderr=True)
    try:
        return int(args.func(args, out, err))
    except AcphostError as exc:
        print_error(err, exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # The reader left (``| head``): say nothing more, and keep Python from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
