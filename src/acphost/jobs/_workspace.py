"""Fresh workspaces for trials, and the sandbox a trial's commands run in.

A workspace is materialised from its :class:`WorkspaceSource`: a local folder is copied, a git
repository is cloned and checked out at its revision, nothing gives an empty folder. For
executors on other machines the folder travels as a tar archive (:func:`pack`).

Sandboxing is an axis of its own (:class:`Sandbox`): the default :class:`FolderSandbox` runs
the agent and the commands as they are, in the workspace; a :class:`CommandSandbox` prefixes
every command with a wrapper (bubblewrap, a container runtime...). docs/jobs.md says what
isolation each level gives.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from acphost.errors import AcphostError
from acphost.jobs._schema import WorkspaceSource

__all__ = [
    "CommandSandbox",
    "FolderSandbox",
    "Sandbox",
    "WorkspaceSetupError",
    "materialise",
    "pack",
]


class WorkspaceSetupError(AcphostError):
    """A trial's workspace could not be made (missing folder, git failure, setup failed)."""

    code = "workspace_setup_failed"
    default_hint = "check the task's workspace source and setup command"


def materialise(source: WorkspaceSource, dest: Path, *, packed: bytes | None = None) -> Path:
    """Make ``dest`` a fresh copy of ``source`` (``packed``: the folder as :func:`pack` made
    it, on a node that cannot see the original)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if packed is not None:
        dest.mkdir()
        with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
            archive.extractall(dest, filter="data")
    elif source.path is not None:
        if not os.path.isdir(source.path):
            raise WorkspaceSetupError(f"the workspace folder {source.path!r} does not exist")
        shutil.copytree(source.path, dest, symlinks=True)
    elif source.git is not None:
        _git("clone", "--quiet", "--no-checkout", source.git, str(dest))
        _git("-C", str(dest), "checkout", "--quiet", "--detach", source.rev)
    else:
        dest.mkdir()
    return dest


def pack(source: WorkspaceSource) -> bytes | None:
    """A local folder as a tar archive (``None`` for a git or empty workspace)."""
    if source.path is None:
        return None
    if not os.path.isdir(source.path):
        raise WorkspaceSetupError(f"the workspace folder {source.path!r} does not exist")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(source.path, arcname=".")
    return buffer.getvalue()


def _git(*args: str) -> None:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WorkspaceSetupError(f"git {args[0]} failed: {done.stderr.strip()[-500:]}")


@runtime_checkable
class Sandbox(Protocol):
    """How a trial's agent and commands are confined; ``wrap`` is applied to every argv."""

    name: str

    def wrap(self, argv: Sequence[str], workspace: Path) -> list[str]:
        """The command line that runs ``argv`` inside the sandbox, in ``workspace``."""
        ...


class FolderSandbox:
    """No confinement beyond a fresh folder per trial (and acphost's workspace-bound fs)."""

    name = "folder"

    def wrap(self, argv: Sequence[str], workspace: Path) -> list[str]:
        """``argv`` unchanged."""
        return list(argv)


class CommandSandbox:
    """Prefix every command with a wrapper; ``{workspace}`` in it is the trial's folder.

    E.g. ``["bwrap", "--ro-bind", "/", "/", "--bind", "{workspace}", "{workspace}",
    "--unshare-net", "--die-with-parent", "--"]``.
    """

    name = "command"

    def __init__(self, prefix: Sequence[str]) -> None:
        self.prefix = list(prefix)

    def wrap(self, argv: Sequence[str], workspace: Path) -> list[str]:
        """The prefix, with ``{workspace}`` filled in, then ``argv``."""
        return [part.replace("{workspace}", str(workspace)) for part in self.prefix] + list(argv)
