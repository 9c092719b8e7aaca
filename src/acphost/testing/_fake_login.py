"""The fake agent's terminal login (ACP terminal authentication), for hosts to test against.

A scenario with ``terminal_login: {"credentials": PATH, "password": "..."}`` needs a login: it
offers a ``terminal`` auth method (only to a client that advertises ``auth.terminal``) whose
``args`` make the same program run an interactive login instead of ACP, and whose ``env`` it
checks, so a test proves the host appended the one and applied the other. The login keeps its
credentials in PATH, where the next start finds them; ``logout`` removes them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "LOGIN_ARG",
    "LOGIN_ENV",
    "logged_in",
    "login",
    "logout",
    "offered",
    "terminal_method",
]

LOGIN_ARG = "--login"
LOGIN_ENV = "ACPHOST_FAKE_AGENT_LOGIN"
_TOKEN = "fake-agent-credentials-v1\n"


def _config(settings: Mapping[str, Any]) -> tuple[Path, str]:
    config = settings["terminal_login"]
    return Path(str(config["credentials"])), str(config.get("password", "secret"))


def terminal_method() -> dict[str, Any]:
    """The auth method the fake agent offers when the client can run it."""
    return {
        "type": "terminal",
        "id": "fake-terminal-login",
        "name": "Log in at the terminal",
        "description": "runs the fake agent's interactive login",
        "args": [LOGIN_ARG],
        "env": {LOGIN_ENV: "1"},
    }


def offered(client_capabilities: Mapping[str, Any], methods: list[Any]) -> list[Any]:
    """The auth methods to offer: the terminal login first, if the client can run it."""
    auth = client_capabilities.get("auth")
    if isinstance(auth, dict) and auth.get("terminal") is True:
        return [terminal_method(), *methods]
    return methods


def logged_in(settings: Mapping[str, Any]) -> bool:
    """Whether an earlier login left its credentials."""
    path, _ = _config(settings)
    try:
        return path.read_text() == _TOKEN
    except OSError:
        return False


def login(settings: Mapping[str, Any], stdin: TextIO, stdout: TextIO) -> int:
    """The interactive login: 0 once the password is right, as terminal auth expects."""
    if os.environ.get(LOGIN_ENV) != "1":
        print(f"fake-agent: {LOGIN_ARG} must be run with the auth method's env", file=sys.stderr)
        return 3
    path, password = _config(settings)
    stdout.write("fake agent login\npassword: ")
    stdout.flush()
    if stdin.readline().rstrip("\r\n") != password:
        stdout.write("wrong password\n")
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_TOKEN)
    stdout.write("logged in\n")
    return 0


def logout(settings: Mapping[str, Any]) -> None:
    """Forget the credentials: the next session needs a login again."""
    path, _ = _config(settings)
    path.unlink(missing_ok=True)
