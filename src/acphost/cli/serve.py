"""``acphost serve``: the HTTP/WebSocket server; its options live with the server itself.

``acphost serve ARGS`` hands ARGS to the server's own parser (``acphost.server._cli``), so the
other commands never import FastAPI and the server's options are defined in one place.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["add_parser", "main"]

HELP = "serve conversations over HTTP and WebSocket (acphost serve --help)"


class _Placeholder(argparse.ArgumentParser):
    """``serve`` in the command list; its help is the server parser's, imported when asked."""

    def format_help(self) -> str:
        from acphost.server._cli import add_arguments

        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        add_arguments(parser)
        return parser.format_help()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """List ``serve`` among the commands; :func:`main` parses its options."""
    placeholder = sub.add_parser(
        "serve",
        help=HELP,
        add_help=False,
        description="Serve conversations over HTTP and WebSocket.",
    )
    placeholder.__class__ = _Placeholder


def main(argv: Sequence[str]) -> int:
    """Parse the server's options and serve until stopped; the exit code."""
    from acphost.server._cli import main as serve

    try:
        return serve(list(argv))
    except SystemExit as exc:  # its parser exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
