"""One known agent: how to launch it, install it, tell it is there, and ask its version.

Checking an entry is cheap (a file lookup); asking an agent its version runs it, so that
happens only in :meth:`AgentEntry.version`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acphost.agents._acp import ACPAgent
from acphost.agents._config import agents_dir, config_path
from acphost.agents._install import Package
from acphost.errors import AgentNotFound

__all__ = ["BUILT_IN", "AgentEntry"]

BUILT_IN = "built in"
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.]+)*")


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One agent the registry knows.

    ``command`` is the launch command line; its program is looked for first in the
    ``locations`` under acphost's own agents directory (``{agents}``, where
    ``scripts/install-agents.sh`` installs), then on ``PATH``, then in the other
    ``locations`` (``~`` expanded). ``python_module`` runs a found Python console script as
    ``<its python> -m MODULE`` instead (for agents whose entry point does more than serve
    ACP). ``credentials`` and ``base_urls`` name the variables the agent reads; ``env`` is
    added to its environment. ``normalize_env`` rewrites variables that are set to a value the
    agent accepts (Claude Code exits on any ``IS_SANDBOX`` but ``1``). ``ask_mode`` is the
    session mode in which the agent asks the client before acting (selected when the
    permission policy decides); ``asks_permission=False`` marks an agent that never asks.
    """

    name: str
    title: str
    command: tuple[str, ...]
    install: str
    credentials: tuple[str, ...] = ()
    base_urls: tuple[str, ...] = ()
    notes: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    default_mode: str = ""
    homepage: str = ""
    locations: tuple[str, ...] = ()
    python_module: str = ""
    normalize_env: Mapping[str, str] = field(default_factory=dict)
    source: str = "built in"
    package: Package | None = None
    ask_mode: str = ""
    asks_permission: bool | None = None

    # --- finding it ----------------------------------------------------------------------

    @property
    def builtin(self) -> bool:
        """Whether the agent ships with acphost (the demo agent): nothing to install."""
        return self.install == BUILT_IN

    def _candidates(self) -> Iterator[Path]:
        program = self.command[0]
        if os.sep in program:
            yield Path(program).expanduser()
            return
        managed = str(agents_dir())
        mine = [loc for loc in self.locations if loc.startswith("{agents}")]
        for location in mine:
            yield Path(location.replace("{agents}", managed, 1))
        on_path = shutil.which(program)
        if on_path:
            yield Path(on_path)
        for location in self.locations:
            if location not in mine:
                yield Path(location).expanduser()

    def executable(self) -> Path | None:
        """The program that would run, or ``None`` when it is not installed."""
        for candidate in self._candidates():
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        return None

    def installed(self) -> bool:
        """Whether the agent's executable can be found (on PATH or in acphost's agents folder)."""
        return self.executable() is not None

    def launch_command(self) -> list[str]:
        """The full command line to start it; raises :class:`AgentNotFound` with the install
        command when it is not installed."""
        program = self.executable()
        if program is None:
            raise self.not_found()
        args = list(self.command[1:])
        if self.python_module:
            python = _python_of(program)
            if python is not None:
                return [python, "-m", self.python_module, *args]
        node = _node_beside(program)
        if node is not None:
            return [str(node), str(program.resolve()), *args]
        return [str(program), *args]

    def not_found(self) -> AgentNotFound:
        """The error for an agent that is not installed: where it looked, how to install it."""
        places = [self.command[0]]
        places += [loc.replace("{agents}", str(agents_dir()), 1) for loc in self.locations]
        return AgentNotFound(
            f"{self.title} is not installed: looked for {', '.join(places)}",
            hint=f"install it with `{self.install}`, or set its command in {config_path()}",
        )

    def version(self, timeout: float = 10.0) -> str | None:
        """The installed version: the npm package's own record, else ``--version`` run with
        a timeout. ``None`` when not installed or it would not say."""
        if self.builtin:
            from acphost._version import __version__

            return __version__
        program = self.executable()
        if program is None:
            return None
        from_npm = _npm_version(program)
        if from_npm:
            return from_npm
        argv = self.launch_command()
        argv = [*argv[: len(argv) - len(self.command) + 1], "--version"]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env, "NO_COLOR": "1"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = _VERSION.search(done.stdout or done.stderr)
        return match.group(0) if match else None

    # --- using it ------------------------------------------------------------------------

    def agent(self, *, env: Mapping[str, str | None] | None = None, **options: Any) -> ACPAgent:
        """An :class:`ACPAgent` running this entry; ``env`` adds to the entry's ``env``, and
        ``options`` go to :class:`ACPAgent` (``startup_timeout``, ``mcp_servers``...)."""
        merged: dict[str, str | None] = {**self.env, **(env or {})}
        for name, value in self.normalize_env.items():
            current = merged[name] if name in merged else os.environ.get(name)
            if current is not None and current != value:
                merged[name] = value
        return ACPAgent(
            self.launch_command(),
            name=self.name,
            env=merged,
            registry_name=self.name,
            ask_mode=self.ask_mode or None,
            asks_permission=self.asks_permission,
            **options,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (no version: that would run the agent)."""
        program = self.executable()
        return {
            "name": self.name,
            "title": self.title,
            "installed": program is not None,
            "executable": str(program) if program else None,
            "command": list(self.command),
            "install": self.install,
            "credentials": list(self.credentials),
            "base_urls": list(self.base_urls),
            "env": dict(self.env),
            "default_mode": self.default_mode,
            "notes": self.notes,
            "homepage": self.homepage,
            "package": None if self.package is None else dataclasses.asdict(self.package),
            "source": self.source,
            "ask_mode": self.ask_mode or None,
            "asks_permission": self.asks_permission,
            "permission_note": self.permission_note,
        }

    @property
    def permission_note(self) -> str:
        """Whether a permission policy can hold the agent back, in words."""
        if self.asks_permission is False:
            return "never asks before acting: a deny or ask policy cannot hold it back"
        if self.ask_mode:
            return f"asks in mode {self.ask_mode!r} (selected for ask, deny or a callback)"
        return ""


def _python_of(script: Path) -> str | None:
    """The interpreter of a Python console script (its ``#!`` line), if it is one."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and "python" in os.path.basename(words[0]) and os.path.isabs(words[0]):
        return words[0]
    return None


def _node_beside(program: Path) -> Path | None:
    """The Node.js installed in the same npm prefix as ``program`` (a :class:`Package`
    ``runtime``): it runs the agent instead of the machine's older ``node``."""
    if program.parent.name != ".bin":
        return None
    node = program.parent / "node"
    return node if node.is_file() and os.access(node, os.X_OK) and program.name != "node" else None


def _npm_version(program: Path) -> str | None:
    """The version in the ``package.json`` of the npm package a program belongs to."""
    try:
        real = program.resolve()
    except OSError:
        return None
    for parent in list(real.parents)[:6]:
        manifest = parent / "package.json"
        if parent.parent.name == "node_modules" or parent.parent.parent.name == "node_modules":
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            version = data.get("version") if isinstance(data, dict) else None
            return version if isinstance(version, str) else None
    return None
