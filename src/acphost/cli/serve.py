"""``acphost serve``: the HTTP/WebSocket server; its options live with the server itself."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost serve``, parsed by the server's own module.

    That module is imported only here and when serving, so the other commands never pay for
    FastAPI.
    """
    from acphost.server._cli import add_arguments

    serve = sub.add_parser("serve", help="serve conversations over HTTP and WebSocket")
    add_arguments(serve)
    serve.set_defaults(func=_serve_command)


def _serve_command(args: argparse.Namespace, out: Any, err: Any) -> int:
    from acphost.server._cli import run

    return run(args)
