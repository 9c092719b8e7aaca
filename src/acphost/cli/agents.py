"""``acphost agents``: the agents acphost can run by name, installing them, logging in.

``acphost agents`` lists the registry (installed or not, version, command, how to install);
``acphost agents install NAME`` installs a known agent at its pinned version into acphost's
agents directory, where the registry looks first. ``acphost agents login AGENT`` runs an
agent's terminal login (ACP terminal authentication) and ``logout`` asks it to forget.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import shlex
import subprocess
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from acphost.agents import KNOWN_AGENTS, ACPAgent, AgentEntry, resolve_agent
from acphost.agents._config import agents_dir
from acphost.agents._install import InstallPlan, plan_install
from acphost.cli._common import EXIT_ERROR, EXIT_OK, Report, print_json
from acphost.errors import AcphostError, AuthRequired, CapabilityMissing, UsageError

__all__ = ["add_parser", "agents_command", "install_command", "login_command", "logout_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``acphost agents [install NAME...]``."""
    agents = sub.add_parser(
        "agents",
        help="known agents: installed or not, how to install",
        description=f"Known agents. acphost installs agents itself into {agents_dir()} "
        "($ACPHOST_AGENTS_DIR, else $ACPHOST_HOME/agents, else ~/.local/share/acphost/agents)"
        ", where it looks for them first.",
    )
    agents.add_argument("--json", action="store_true", help="print a JSON array")
    agents.set_defaults(func=agents_command)
    what = agents.add_subparsers(dest="action", metavar="ACTION")
    install = what.add_parser(
        "install",
        help="install known agents at their pinned versions, where acphost looks",
        description="Install each NAME at the version acphost pins and tests, into acphost's "
        "agents directory (npm packages with npm, PyPI ones in a venv of their own). An agent "
        "already there at that version is left alone.",
    )
    install.add_argument("names", nargs="+", metavar="NAME", help="e.g. claude, codex, kimi")
    install.add_argument(
        "--dry-run", action="store_true", help="print the exact commands, run nothing"
    )
    install.set_defaults(func=install_command)
    login = what.add_parser(
        "login",
        help="log in to an agent with its own interactive login (ACP terminal auth)",
        description="Start AGENT to ask how it logs in, then run its terminal login on this "
        "terminal: the agent's own command with the method's arguments. Exit status 0 means "
        "logged in; the agent keeps the credentials where it keeps them.",
    )
    login.add_argument("agent", metavar="AGENT", help='a known agent\'s name or "CMD ARGS"')
    login.add_argument("--method", metavar="ID", help="which terminal login, if it offers several")
    login.set_defaults(func=login_command)
    logout = what.add_parser(
        "logout",
        help="log out of an agent (ACP logout)",
        description="Start AGENT and ask it to forget its credentials.",
    )
    logout.add_argument("agent", metavar="AGENT", help='a known agent\'s name or "CMD ARGS"')
    logout.set_defaults(func=logout_command)


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


def _asks(entry: AgentEntry) -> Text:
    """Whether a deny or ask policy can hold the agent back (see ``AgentEntry.ask_mode``)."""
    if entry.asks_permission is False:
        return Text("never", style="yellow")
    return Text(f"in {entry.ask_mode}" if entry.ask_mode else "-", style="dim")


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
                "pinned": None if entry.package is None else entry.package.spec,
                "credentials": list(entry.credentials),
                "ask_mode": entry.ask_mode or None,
                "asks_permission": entry.asks_permission,
                "permission_note": entry.permission_note,
            }
            for entry in entries
        ]
        print_json(out, rows)
        return EXIT_OK
    table = Table("name", "title", "installed", "version", "asks")
    table.add_column("command", overflow="fold")
    table.add_column("install", overflow="fold")
    for entry in entries:
        installed = entry.name in versions
        table.add_row(
            entry.name,
            entry.title,
            Text("yes", style="green") if installed else Text("no", style="dim"),
            versions.get(entry.name) or "-",
            _asks(entry),
            _command_line(entry),
            entry.install,
        )
    out.print(table)
    return EXIT_OK


# --- install -------------------------------------------------------------------------------


def _entry(name: str) -> AgentEntry:
    """An installable entry by its name (or by its folder, as install-agents.sh calls it)."""
    by_folder = {e.package.folder: e for e in KNOWN_AGENTS.values() if e.package is not None}
    entry = KNOWN_AGENTS.get(name) or by_folder.get(name)
    if entry is None:
        raise UsageError(
            f"unknown agent {name!r}",
            hint=f"acphost installs: {', '.join(e.name for e in by_folder.values())}",
        )
    if entry.package is None:
        raise UsageError(
            f"acphost does not install {entry.title} itself",
            hint=f"install it with: {entry.install}",
        )
    return entry


def _run_plan(plan: InstallPlan, out: Console) -> None:
    total = len(plan.steps)
    if not out.is_terminal:  # a log, one line per step
        plan.run(lambda i, argv: out.print(f"  [{i + 1}/{total}] {shlex.join(argv)}"))
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task(plan.name)

        def step(index: int, argv: list[str]) -> None:
            what = " ".join(argv[1:3]) if argv[1:2] != ["-m"] else " ".join(argv[2:4])
            progress.update(task, description=f"[{index + 1}/{total}] {plan.name}: {what} …")

        plan.run(step)


def _install_one(name: str, out: Console, dry_run: bool) -> None:
    entry = _entry(name)
    assert entry.package is not None
    plan = plan_install(entry.name, entry.package)
    pinned = f"{entry.package.spec} ({entry.package.manager})"
    if plan.done:
        done = f"{entry.name} {plan.installed} already installed"
        out.print(Text.assemble(("✓ ", "green"), done, (f" in {plan.target}", "dim")))
        return
    out.print(Text.assemble((f"{entry.name}: ", "bold"), f"{pinned} into {plan.target}"))
    if dry_run:
        for argv in plan.steps:
            out.print(f"  {shlex.join(argv)}")
        return
    started = time.monotonic()
    _run_plan(plan, out)
    if not entry.installed():
        raise entry.not_found()
    out.print(
        Text.assemble(
            ("✓ ", "green"),
            f"{entry.name} {entry.package.version} installed",
            (f" in {time.monotonic() - started:.1f} s · {entry.executable()}", "dim"),
        )
    )


def install_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Install each named agent in turn; a failure is reported and the next one goes on."""
    report = Report(err)
    failed = []
    for name in args.names:
        try:
            _install_one(name, out, args.dry_run)
        except AcphostError as exc:
            report.exception(exc)
            failed.append(name)
    if failed:
        err.print(Text(f"not installed: {', '.join(failed)}", style="red"))
        return EXIT_ERROR
    return EXIT_OK


# --- login and logout ----------------------------------------------------------------------


def _acp_agent(name: str) -> ACPAgent:
    agent = resolve_agent(name)
    if not isinstance(agent, ACPAgent):  # pragma: no cover - names resolve to ACP programs
        raise UsageError(f"{name!r} is not an ACP agent program")
    return agent


def _terminal_method(agent: ACPAgent, methods: list[dict[str, Any]], wanted: str | None) -> Any:
    """The terminal login to run: the one asked for, else the only one offered."""
    terminal = [m for m in methods if m.get("type") == "terminal"]
    offered = ", ".join(f"{m.get('id')} ({m.get('type') or 'agent'})" for m in methods) or "none"
    if wanted is not None:
        chosen = [m for m in terminal if m.get("id") == wanted]
        if not chosen:
            raise UsageError(
                f"{agent.name} offers no terminal login {wanted!r} (it offers: {offered})",
                hint="leave out --method to use its only terminal login",
            )
        return chosen[0]
    if not terminal:
        raise AuthRequired(f"{agent.name} offers no terminal login (it offers: {offered})")
    if len(terminal) > 1:
        raise UsageError(
            f"{agent.name} offers {len(terminal)} terminal logins",
            hint="choose one with --method: " + ", ".join(str(m.get("id")) for m in terminal),
        )
    return terminal[0]


def login_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the agent's terminal login on this terminal; 0 once it says logged in."""
    agent = _acp_agent(args.agent)
    method = _terminal_method(agent, asyncio.run(agent.aauth_methods()), args.method)
    argv, env = agent.login_command(method)
    what = method.get("name") or method.get("id")
    out.print(Text.assemble((f"{agent.name}: {what}", "bold"), (f" · {shlex.join(argv)}", "dim")))
    code = subprocess.run(argv, env=env, check=False).returncode
    if code != 0:
        err.print(Text(f"the login exited with {code}: not logged in", style="red"))
        return EXIT_ERROR
    out.print(Text.assemble(("✓ ", "green"), f"logged in to {agent.name}"))
    return EXIT_OK


def logout_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Ask the agent to forget its credentials (it must offer ``logout``)."""
    agent = _acp_agent(args.agent)
    if not asyncio.run(agent.alogout()):
        raise CapabilityMissing("auth.logout", method="logout")
    out.print(Text.assemble(("✓ ", "green"), f"logged out of {agent.name}"))
    return EXIT_OK
