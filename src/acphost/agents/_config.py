"""The user's agent config file: add agents to the registry, or change the built-in ones.

``$ACPHOST_HOME/agents.toml`` when ``ACPHOST_HOME`` is set (one variable relocates
everything acphost keeps), else ``$XDG_CONFIG_HOME/acphost/agents.toml``, else
``~/.config/acphost/agents.toml``::

    [agents.myagent]
    command = ["my-agent", "--acp"]      # or one string, split like a shell would
    title = "My agent"
    install = "pipx install my-agent"
    env = { MY_AGENT_TELEMETRY = "0" }   # added to the agent's environment
    credentials = ["MY_AGENT_API_KEY"]   # variables it reads for credentials
    base_urls = ["MY_AGENT_BASE_URL"]    # variables it reads for its model API address

    [agents.claude]                      # an existing name: the fields given replace
    env = { ANTHROPIC_BASE_URL = "http://127.0.0.1:8080" }   # env is merged instead

Only the standard library reads it (``tomllib``), and only when the registry is used.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from pathlib import Path
from typing import Any

from acphost.errors import UsageError

__all__ = ["agents_dir", "config_path", "read_config"]

_STRINGS = ("title", "install", "notes", "default_mode", "homepage", "python_module")
_LISTS = ("credentials", "base_urls", "locations")


def _xdg(variable: str, fallback: Path) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else fallback  # a relative XDG path is ignored


def config_path() -> Path:
    """Where the agent config file is looked for (it need not exist)."""
    home = os.environ.get("ACPHOST_HOME")
    if home:
        return Path(home).expanduser() / "agents.toml"
    return _xdg("XDG_CONFIG_HOME", Path.home() / ".config") / "acphost" / "agents.toml"


def agents_dir() -> Path:
    """Where ``acphost agents install`` (and ``scripts/install-agents.sh``) put the agents
    acphost installs for itself, and where the registry looks for them first.

    ``$ACPHOST_AGENTS_DIR``, else ``$ACPHOST_HOME/agents``, else
    ``$XDG_DATA_HOME/acphost/agents`` (``~/.local/share/acphost/agents``).
    """
    explicit = os.environ.get("ACPHOST_AGENTS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("ACPHOST_HOME")
    if home:
        return Path(home).expanduser() / "agents"
    return _xdg("XDG_DATA_HOME", Path.home() / ".local" / "share") / "acphost" / "agents"


def _bad(path: Path, name: str, message: str) -> UsageError:
    return UsageError(
        f"{path}: [agents.{name}] {message}",
        hint="fix the agent config file (see docs/agents.md)",
    )


def _entry_fields(path: Path, name: str, table: Any) -> dict[str, Any]:
    """The validated fields of one ``[agents.NAME]`` table, named as on ``AgentEntry``."""
    if not isinstance(table, dict):
        raise _bad(path, name, "must be a table")
    fields: dict[str, Any] = {}
    for key, value in table.items():
        if key == "command":
            if isinstance(value, str):
                value = shlex.split(value)
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                raise _bad(path, name, "command must be a non-empty list of strings")
            fields["command"] = tuple(value)
        elif key == "env":
            if not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
                raise _bad(path, name, "env must be a table of strings")
            fields["env"] = dict(value)
        elif key in _LISTS:
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise _bad(path, name, f"{key} must be a list of strings")
            fields[key] = tuple(value)
        elif key in _STRINGS:
            if not isinstance(value, str):
                raise _bad(path, name, f"{key} must be a string")
            fields[key] = value
        else:
            known = ", ".join(("command", "env", *_LISTS, *_STRINGS))
            raise _bad(path, name, f"unknown key {key!r} (known: {known})")
    return fields


def read_config(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{name: fields}`` from the config file; empty when there is none.

    Raises :class:`~acphost.errors.UsageError` naming the file and the table when it is
    malformed: a typo must not silently launch a different program.
    """
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the agent config {path}: {exc}") from exc
    agents = data.get("agents", {})
    if not isinstance(agents, dict):
        raise UsageError(f"{path}: `agents` must be a table of [agents.NAME] tables")
    return {str(name): _entry_fields(path, str(name), table) for name, table in agents.items()}
