"""The ``acphost`` command: run and chat with agents, list and install them, browse, replay,
export and delete stored conversations, serve them over HTTP.

One module per command (``run``, ``chat``, ``agents``, ``conversations``, ``serve``), each
adding its own subparser. Exit codes: 0 the turn ended with ``end_turn`` (or the command
succeeded), 1 an acphost error (its code, message and hint go to stderr, once), 2 a bad
command line (a usage error), 3 the turn stopped for another reason (``max_tokens``,
``refusal``...), 130 cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from acphost import __version__
from acphost.cli import agents, chat, conversations, run, serve
from acphost.cli._common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_USAGE,
    Report,
    error_exit,
    make_console,
)
from acphost.errors import AcphostError

__all__ = ("build_parser", "main")

#: Commands other parts of acphost add, when they are there: module -> its add_parser().
EXTENSIONS = ("acphost.jobs._cli",)


def _extensions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # not part of this build
            raise
        module.add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``acphost --help`` shows it)."""
    parser = argparse.ArgumentParser(
        prog="acphost",
        description="Host coding agents that speak the Agent Client Protocol.",
        epilog="exit codes: 0 done (end_turn), 1 error, 2 bad usage, 3 stopped for another "
        "reason (max_tokens, refusal...), 130 cancelled (Ctrl-C)",
    )
    parser.add_argument("--version", action="version", version=f"acphost {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    run.add_parser(sub)
    chat.add_parser(sub)
    agents.add_parser(sub)
    conversations.add_parser(sub)
    conversations.add_replay(sub.add_parser("replay", help="alias of: conversations replay"))
    serve.add_parser(sub)
    _extensions(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    words = list(sys.argv[1:] if argv is None else argv)
    out, err = make_console(), make_console(stderr=True)
    try:
        if words[:1] == ["serve"]:
            return serve.main(words[1:])
        try:
            args = build_parser().parse_args(words)
        except SystemExit as exc:  # argparse exits on --help, --version and on usage errors
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        return int(args.func(args, out, err))
    except AcphostError as exc:
        Report(err).exception(exc)
        return error_exit(exc)
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # The reader left (``| head``): say nothing more, and keep Python from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
