"""Installing a known agent at its pinned version into acphost's agents directory.

The pins live on the registry entries (:class:`Package`); ``acphost agents install NAME``
and ``scripts/install-agents.sh`` both come here, so they agree on versions and on the place
(:func:`~acphost.agents._config.agents_dir`, where the registry looks first). npm packages go
to ``<agents>/<folder>`` (``npm install --prefix``, with the Node.js ``runtime`` the package
needs when it is newer than the machine's: npm's ``node`` package, no other download), PyPI
packages to their own venv ``<agents>/<folder>/venv``. An agent already there at its pinned
version is left alone. ``<agents>/versions.txt`` records what is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from acphost.agents._config import agents_dir
from acphost.errors import AgentStartError, UsageError

__all__ = ["InstallPlan", "Package", "plan_install"]

_NEWEST = (3, 13)  # the newest Python the pinned PyPI agents were tested on
_PIP_VERSION = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"


@dataclass(frozen=True, slots=True)
class Package:
    """An agent's pinned package: where it comes from and which version acphost tests."""

    manager: Literal["npm", "pip"]
    name: str
    version: str
    folder: str  # under the agents directory
    python: tuple[int, int] = (3, 11)  # pip: the oldest Python that gets this version
    runtime: str = ""  # npm: a package installed beside it that runs it, e.g. ``node@22``

    @property
    def spec(self) -> str:
        """``name@version`` (npm) or ``name==version`` (pip)."""
        separator = "@" if self.manager == "npm" else "=="
        return f"{self.name}{separator}{self.version}"


@dataclass(slots=True)
class InstallPlan:
    """The exact commands that install one package, and whether it is there already."""

    name: str
    package: Package
    target: Path
    steps: list[list[str]]
    installed: str | None  # the version found there now

    @property
    def done(self) -> bool:
        """The pinned version is already installed."""
        return self.installed == self.package.version

    def run(self, on_step: Callable[[int, list[str]], object] = lambda i, argv: None) -> Path:
        """Run the steps (``on_step(index, argv)`` before each); returns the install log.

        A failing step raises :class:`AgentStartError` with the log's last lines.
        """
        self.target.mkdir(parents=True, exist_ok=True)
        log = self.target / "install.log"
        with log.open("w", encoding="utf-8") as handle:
            for index, argv in enumerate(self.steps):
                on_step(index, argv)
                handle.write(f"$ {' '.join(argv)}\n")
                handle.flush()
                code = subprocess.call(
                    argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT
                )
                if code != 0:
                    handle.close()
                    raise _failed(self.name, argv, log)
        _record(self.package.folder, self.package.version)
        return log


def _failed(name: str, argv: Sequence[str], log: Path) -> AgentStartError:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    tail = "\n".join(line for line in lines[-15:] if "is ignored: it is neither" not in line)
    return AgentStartError(
        f"installing {name} failed at `{' '.join(argv[:3])} …`:\n{tail}",
        hint=f"the whole log is in {log}",
    )


def _record(folder: str, version: str) -> None:
    path = agents_dir() / "versions.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.split(" ", 1)[0] != folder]
    partial = path.with_suffix(".tmp")
    partial.write_text("\n".join(sorted([*kept, f"{folder} {version}"])) + "\n", "utf-8")
    os.replace(partial, path)


def _npm_installed(target: Path, package: Package) -> str | None:
    if package.runtime and not (target / "node_modules" / ".bin" / "node").exists():
        return None  # the agent without the Node.js it needs
    try:
        manifest = target / "node_modules" / package.name / "package.json"
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def _pip_installed(venv: Path, package: Package) -> str | None:
    python = venv / "bin" / "python"
    if not python.is_file():
        return None
    done = subprocess.run(
        [str(python), "-c", _PIP_VERSION, package.name],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _python_for(minimum: tuple[int, int]) -> str:
    """A Python from ``minimum`` to 3.13 (what the pins were tested on) for the agent's venv,
    the newest first."""
    names = [f"python3.{minor}" for minor in range(_NEWEST[1], minimum[1] - 1, -1)]
    found = [shutil.which(name) for name in names]
    pyenv = Path.home() / ".pyenv" / "versions"
    for name in names:
        found += [str(p / "bin" / name) for p in sorted(pyenv.glob(f"{name[6:]}*"), reverse=True)]
    if minimum <= sys.version_info[:2] <= _NEWEST:
        found.append(sys.executable)
    for candidate in filter(None, found):
        check = [candidate, "-c", f"import sys, venv; assert {minimum} <= sys.version_info[:2]"]
        if subprocess.call(check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            return candidate
    raise UsageError(
        f"no Python {minimum[0]}.{minimum[1]} to {_NEWEST[0]}.{_NEWEST[1]} found",
        hint=f"install python{minimum[0]}.{minimum[1]} (older ones only see old releases)",
    )


def plan_install(name: str, package: Package) -> InstallPlan:
    """What installing ``package`` (for the agent ``name``) takes here, nothing run yet."""
    target = agents_dir() / package.folder
    if package.manager == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise UsageError(f"{name} needs npm", hint="install Node.js 20 or newer, with npm")
        step = [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund"]
        step += ["--loglevel=error", *filter(None, [package.runtime]), package.spec]
        return InstallPlan(name, package, target, [step], _npm_installed(target, package))
    venv = target / "venv"
    installed = _pip_installed(venv, package)
    steps = []
    if installed is None:
        steps.append([_python_for(package.python), "-m", "venv", "--clear", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    steps.append([*pip, package.spec])
    return InstallPlan(name, package, target, steps, installed)
