"""``python -m acphost.server`` (and what ``acphost serve`` delegates to).

The API key comes from ``$ACPHOST_API_KEY`` or ``--api-key-file``, never from the command line,
where every local user could read it in the process list.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path

from acphost.errors import UsageError
from acphost.server._limits import DEFAULT_MAX_BODY, DEFAULT_MAX_LIVE

__all__ = ["add_arguments", "main", "run"]

KEY_VARIABLE = "ACPHOST_API_KEY"

log = logging.getLogger("acphost.server")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--store", type=Path, help="SQLite store (default: acphost's usual one)")
    parser.add_argument(
        "--api-key",
        help=f"the API key clients must send (visible to other users in `ps`: prefer "
        f"${KEY_VARIABLE} or --api-key-file)",
    )
    parser.add_argument(
        "--api-key-file", type=Path, help=f"a file holding the API key (else ${KEY_VARIABLE})"
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="serve without a key (loopback hosts only)"
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow a browser origin",
    )
    parser.add_argument(
        "--max-live",
        type=_positive,
        default=DEFAULT_MAX_LIVE,
        metavar="N",
        help=f"agents attached at once; idle ones are detached to make room (default:"
        f" {DEFAULT_MAX_LIVE})",
    )
    parser.add_argument(
        "--max-body",
        type=_positive,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help=f"largest request body (default: {DEFAULT_MAX_BODY})",
    )
    parser.add_argument(
        "--open", action="store_true", help="open the web console in a browser once serving"
    )
    parser.add_argument("--log-level", default="info")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key:
        key_given: str = args.api_key
        return key_given
    if args.api_key_file is not None:
        try:
            key: str = args.api_key_file.read_text(encoding="utf-8").strip()
            return key
        except OSError as exc:
            raise UsageError(f"cannot read the API key file: {exc.strerror}") from None
    return os.environ.get(KEY_VARIABLE) or None


def _local_address(host: str) -> str:
    """The address a local browser uses for a bind address (a wildcard: the loopback)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def console_url(host: str, port: int) -> str:
    """Where a local browser reaches the console of a server bound to ``host``."""
    address = _local_address(host)
    return f"http://[{address}]:{port}/" if ":" in address else f"http://{address}:{port}/"


def open_when_serving(host: str, port: int, *, timeout: float = 60.0) -> threading.Thread:
    """Open the console in the user's browser as soon as the port accepts connections.

    The URL carries no key: the console asks for it on its sign-in page.
    """
    url, address = console_url(host, port), _local_address(host)

    def wait_then_open() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((address, port), timeout=1).close()
            except OSError:
                time.sleep(0.1)  # polling a port that is not open yet: there is no event
                continue
            if not webbrowser.open(url):
                log.warning("no browser could be opened; the console is at %s", url)
            return
        log.warning("the server did not come up; the console would be at %s", url)

    thread = threading.Thread(target=wait_then_open, name="acphost-open-console", daemon=True)
    thread.start()
    return thread


def run(args: argparse.Namespace) -> int:
    from acphost.server._app import serve

    if args.open:
        open_when_serving(args.host, args.port)
    try:
        serve(
            args.host,
            args.port,
            api_key=_api_key(args),
            store=args.store,
            allow_no_auth=args.no_auth,
            cors_origins=args.cors_origin,
            log_level=args.log_level,
            max_live=args.max_live,
            max_body=args.max_body,
        )
    except UsageError as exc:
        hint = (
            f"set ${KEY_VARIABLE} or --api-key-file; --no-auth only on 127.0.0.1"
            if "key" in exc.message
            else exc.hint
        )
        print(f"acphost serve: {exc.message} ({hint})", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acphost serve", description="Serve conversations over HTTP and WebSocket."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    return run(args)
