"""``acphost agents``: the agents acphost can run by name, and installing them.

``acphost agents`` lists the registry (installed or not, version, command, how to install);
``acphost agents install NAME`` installs a known agent at its pinned version into acphost's
agents directory, where the registry looks first.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import shlex
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from acphost.agents import KNOWN_AGENTS, AgentEntry
from acphost.cli._common import EXIT_OK, print_json

__all__ = ["add_parser", "agents_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost agents [install NAME...]``."""
    agents = sub.add_parser("agents", help="known agents: installed or not, how to install")
    agents.add_argument("--json", action="store_true", help="print a JSON array")
    agents.set_defaults(func=agents_command)


def _command_line(entry: AgentEntry) -> str:
    # The built-ins run under this very interpreter: its full path is noise in a table.
    argv = list(entry.command)
    if argv and argv[0] == sys.executable:
        argv[0] = "python"
    return shlex.join(argv)


def _versions(entries: list[AgentEntry]) -> dict[str, str | None]:
    """The installed agents' versions, asked in parallel (asking one may take a second)."""
    installed = [entry for entry in entries if entry.installed()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(lambda entry: entry.version(timeout=5.0), installed)
        return {entry.name: version for entry, version in zip(installed, found, strict=True)}


def agents_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """The registry: what can be run by name, whether it is installed, how to install it."""
    entries = list(KNOWN_AGENTS.values())
    versions = _versions(entries)
    if args.json:
        rows = [
            {
                "name": entry.name,
                "title": entry.title,
                "installed": entry.installed(),
                "version": versions.get(entry.name),
                "command": list(entry.command),
                "install": entry.install,
                "credentials": list(entry.credentials),
            }
            for entry in entries
        ]
        print_json(out, rows)
        return EXIT_OK
    table = Table("name", "title", "installed", "version")
    table.add_column("command", overflow="fold")
    table.add_column("install", overflow="fold")
    for entry in entries:
        installed = entry.name in versions
        table.add_row(
            entry.name,
            entry.title,
            Text("yes", style="green") if installed else Text("no", style="dim"),
            versions.get(entry.name) or "-",
            _command_line(entry),
            entry.install,
        )
    out.print(table)
    return EXIT_OK
