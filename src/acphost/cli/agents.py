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
import time

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from acphost.agents import KNOWN_AGENTS, AgentEntry
from acphost.agents._config import agents_dir
from acphost.agents._install import InstallPlan, plan_install
from acphost.cli._common import EXIT_ERROR, EXIT_OK, Report, print_json
from acphost.errors import AcphostError, UsageError

__all__ = ["add_parser", "agents_command", "install_command"]


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
                "pinned": None if entry.package is None else entry.package.spec,
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
