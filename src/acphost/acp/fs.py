"""The workspace sandbox behind ACP's ``fs/read_text_file`` and ``fs/write_text_file``.

Agents name files with arbitrary strings, so every path is resolved the way the operating system
would (symlinks followed, ``..`` applied) *before* it is checked against the workspace roots: a
lexical check alone would let ``link-to-etc/passwd`` or ``a/../../x`` escape.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from acphost.errors import AcphostError, ResourceNotFound, WorkspaceError, WorkspaceNotFound

__all__ = ["INLINE_IO_LIMIT", "Workspace"]

INLINE_IO_LIMIT = 64 * 1024
"""Files up to this many bytes are read and written on the event loop: a worker thread costs more
than the I/O itself for them, and agents read many small files."""

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not hang the loop (it is rejected right after, by fstat).
# O_NOFOLLOW: the path is already resolved, so a symlink here was swapped in after the check.


class Workspace:
    """The directories an agent may read and write; everything else is refused."""

    def __init__(
        self, root: str | os.PathLike[str], *additional_roots: str | os.PathLike[str]
    ) -> None:
        roots: list[Path] = []
        for given in (root, *additional_roots):
            resolved = Path(os.path.realpath(given))
            if not resolved.is_dir():
                raise WorkspaceNotFound(f"workspace root {os.fspath(given)!r} is not a directory")
            roots.append(resolved)
        self.roots: tuple[Path, ...] = tuple(roots)

    @property
    def root(self) -> Path:
        """The first root: relative paths and a missing ``cwd`` are taken against it."""
        return self.roots[0]

    def __repr__(self) -> str:
        return f"Workspace({', '.join(repr(str(r)) for r in self.roots)})"

    def contains(self, resolved: Path) -> bool:
        """Whether an already resolved path lies in (or is) one of the roots."""
        return any(resolved.is_relative_to(r) for r in self.roots)

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """The real path ``path`` names, or :class:`WorkspaceError` if that is outside every root.

        The result has all existing symlinks resolved, so later I/O cannot be redirected by them.
        """
        text = os.fspath(path)
        if "\0" in text:
            raise WorkspaceError(f"path {text!r} contains a NUL byte")
        resolved = Path(os.path.realpath(self.root / text))
        if not self.contains(resolved):
            raise WorkspaceError(
                f"path {text!r} resolves to {str(resolved)!r}, outside the workspace "
                f"({', '.join(str(r) for r in self.roots)})"
            )
        return resolved

    def resolve_cwd(self, cwd: str | os.PathLike[str] | None) -> Path:
        """The working directory for a command: the root when ``None``, else an existing directory
        inside the workspace."""
        if cwd is None:
            return self.root
        resolved = self.resolve(cwd)
        if not resolved.is_dir():
            raise ResourceNotFound(
                f"working directory {os.fspath(cwd)!r} is not an existing directory",
                hint="pass a directory that exists inside the workspace",
            )
        return resolved

    async def read_text(
        self, path: str | os.PathLike[str], *, line: int | None = None, limit: int | None = None
    ) -> str:
        """The file's text, optionally only ``limit`` lines starting at 1-based ``line``.

        Line endings are kept as in the file; invalid UTF-8 becomes U+FFFD rather than failing,
        because agents read whatever is in the tree.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        file, size = _open_regular(self.resolve(path), os.fspath(path))
        if size > INLINE_IO_LIMIT:
            # The thread owns the file: if this read is cancelled it still closes it when done.
            data = await asyncio.to_thread(_read_and_close, file)
        else:
            data = _read_and_close(file)
        return _slice_lines(data.decode("utf-8", "replace"), line, limit)

    async def write_text(self, path: str | os.PathLike[str], content: str) -> None:
        """Replace the file's content atomically, creating missing parent directories.

        The write goes to the resolved target, so an in-workspace symlink keeps pointing at the
        updated file instead of being replaced by a regular one.
        """
        resolved = self.resolve(path)
        data = content.encode("utf-8", "replace")
        if len(data) > INLINE_IO_LIMIT:
            await asyncio.to_thread(_write_atomic, resolved, data, os.fspath(path))
        else:
            _write_atomic(resolved, data, os.fspath(path))


def _open_regular(resolved: Path, shown: str) -> tuple[BinaryIO, int]:
    """Open a regular file for reading and return it with its size; anything else is refused."""
    try:
        fd = os.open(resolved, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ResourceNotFound(f"file {shown!r} does not exist") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ResourceNotFound(
                f"{shown!r} is a directory, not a file",
                hint="read a file; list directories with a terminal command",
            )
        if not stat.S_ISREG(st.st_mode):
            raise ResourceNotFound(f"{shown!r} is not a regular file")
        file = open(fd, "rb", closefd=True)  # noqa: SIM115 - returned to the caller, who closes it
    except BaseException:
        os.close(fd)
        raise
    return file, st.st_size


def _read_and_close(file: BinaryIO) -> bytes:
    with file:
        return file.read()


def _slice_lines(text: str, line: int | None, limit: int | None) -> str:
    """Lines ``line`` (1-based) to ``line + limit - 1`` of ``text``, split on ``\\n`` only.

    ``str.split`` with ``maxsplit`` finds the boundaries in C, without building a list of every
    line of a large file.
    """
    if line is not None and line > 1:
        head = text.split("\n", line - 1)
        if len(head) < line:
            return ""
        text = head[-1]
    if limit is None:
        return text
    if limit == 0:
        return ""
    parts = text.split("\n", limit)
    if len(parts) <= limit:
        return text
    return text[: len(text) - len(parts[-1])]


def _write_atomic(target: Path, data: bytes, shown: str) -> None:
    """Write ``data`` to a temporary file next to ``target`` and rename it over ``target``."""
    if target.is_dir():
        raise AcphostError(
            f"cannot write {shown!r}: it is a directory", hint="write to a file path instead"
        )
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file gets 0o666 minus the umask, like any other new file
    while True:
        tmp = parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with open(fd, "wb", closefd=True) as file:
            file.write(data)
            if mode is not None:
                os.fchmod(fd, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
