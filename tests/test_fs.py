"""The workspace sandbox: confinement (``..``, symlinks, extra roots) and text file I/O."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from acphost.acp.fs import INLINE_IO_LIMIT, Workspace
from acphost.errors import AcphostError, ResourceNotFound, WorkspaceError


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("secret\n")
    return out


def read(ws: Workspace, path: str, **kwargs: int | None) -> str:
    return asyncio.run(ws.read_text(path, **kwargs))


def write(ws: Workspace, path: str, content: str) -> None:
    asyncio.run(ws.write_text(path, content))


# --- roots and resolution ---------------------------------------------------------------------


def test_roots_are_resolved_and_must_be_directories(tmp_path: Path, ws_dir: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(ws_dir)
    ws = Workspace(link)
    assert ws.root == ws_dir.resolve()
    assert ws.roots == (ws_dir.resolve(),)
    with pytest.raises(ValueError, match="not a directory"):
        Workspace(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        Workspace(ws_dir, tmp_path / "file")


def test_relative_paths_are_taken_against_the_root(ws_dir: Path) -> None:
    ws = Workspace(ws_dir)
    assert ws.resolve("a/b.txt") == ws_dir.resolve() / "a" / "b.txt"
    assert ws.resolve("a/../c.txt") == ws_dir.resolve() / "c.txt"
    assert ws.resolve(".") == ws_dir.resolve()
    assert ws.resolve(str(ws_dir / "x")) == ws_dir.resolve() / "x"


def test_dotdot_escape_is_refused(ws_dir: Path, outside: Path) -> None:
    ws = Workspace(ws_dir)
    with pytest.raises(WorkspaceError, match=r"\.\./outside/secret\.txt"):
        ws.resolve("../outside/secret.txt")
    with pytest.raises(WorkspaceError):
        ws.resolve(str(ws_dir / ".." / "outside" / "secret.txt"))
    with pytest.raises(WorkspaceError):
        ws.resolve("/etc/passwd")
    with pytest.raises(WorkspaceError):
        read(Workspace(ws_dir), "../outside/secret.txt")


def test_a_sibling_with_the_root_as_prefix_is_outside(tmp_path: Path, ws_dir: Path) -> None:
    (tmp_path / "ws2").mkdir()
    with pytest.raises(WorkspaceError):
        Workspace(ws_dir).resolve(str(tmp_path / "ws2" / "f"))


def test_nul_bytes_are_refused(ws_dir: Path) -> None:
    with pytest.raises(WorkspaceError, match="NUL"):
        Workspace(ws_dir).resolve("a\0b")


def test_symlinked_file_pointing_outside_is_refused(ws_dir: Path, outside: Path) -> None:
    (ws_dir / "innocent.txt").symlink_to(outside / "secret.txt")
    ws = Workspace(ws_dir)
    with pytest.raises(WorkspaceError, match="innocent"):
        read(ws, "innocent.txt")
    with pytest.raises(WorkspaceError):
        write(ws, "innocent.txt", "pwned")
    assert (outside / "secret.txt").read_text() == "secret\n"


def test_symlinked_directory_pointing_outside_is_refused(ws_dir: Path, outside: Path) -> None:
    (ws_dir / "dir").symlink_to(outside, target_is_directory=True)
    ws = Workspace(ws_dir)
    with pytest.raises(WorkspaceError):
        read(ws, "dir/secret.txt")
    with pytest.raises(WorkspaceError):
        write(ws, "dir/new.txt", "pwned")
    with pytest.raises(WorkspaceError):
        write(ws, "dir/sub/new.txt", "pwned")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_dangling_symlink_pointing_outside_is_refused(ws_dir: Path, outside: Path) -> None:
    (ws_dir / "future.txt").symlink_to(outside / "created.txt")
    with pytest.raises(WorkspaceError):
        write(Workspace(ws_dir), "future.txt", "pwned")
    assert not (outside / "created.txt").exists()


def test_additional_roots_are_allowed(ws_dir: Path, outside: Path, tmp_path: Path) -> None:
    ws = Workspace(ws_dir, outside)
    assert ws.roots == (ws_dir.resolve(), outside.resolve())
    assert read(ws, str(outside / "secret.txt")) == "secret\n"
    write(ws, str(outside / "new.txt"), "hi")
    assert (outside / "new.txt").read_text() == "hi"
    # a symlink from the main root into an additional root is fine
    (ws_dir / "to-extra").symlink_to(outside / "secret.txt")
    assert read(ws, "to-extra") == "secret\n"
    (tmp_path / "third").mkdir()
    with pytest.raises(WorkspaceError):
        read(ws, str(tmp_path / "third" / "x"))


def test_resolve_cwd(ws_dir: Path, outside: Path) -> None:
    (ws_dir / "sub").mkdir()
    (ws_dir / "file").write_text("x")
    ws = Workspace(ws_dir)
    assert ws.resolve_cwd(None) == ws_dir.resolve()
    assert ws.resolve_cwd("sub") == ws_dir.resolve() / "sub"
    with pytest.raises(WorkspaceError):
        ws.resolve_cwd(str(outside))
    with pytest.raises(WorkspaceError):
        ws.resolve_cwd("..")
    with pytest.raises(ResourceNotFound):
        ws.resolve_cwd("missing")
    with pytest.raises(ResourceNotFound):
        ws.resolve_cwd("file")


# --- reading ------------------------------------------------------------------------------------


def test_read_whole_file_keeps_line_endings(ws_dir: Path) -> None:
    (ws_dir / "f.txt").write_bytes(b"one\r\ntwo\nthree")
    assert read(Workspace(ws_dir), "f.txt") == "one\r\ntwo\nthree"


@pytest.mark.parametrize(
    ("line", "limit", "expected"),
    [
        (None, None, "1\n2\r\n3\n4\n5"),
        (1, None, "1\n2\r\n3\n4\n5"),
        (0, None, "1\n2\r\n3\n4\n5"),
        (2, None, "2\r\n3\n4\n5"),
        (2, 2, "2\r\n3\n"),
        (None, 1, "1\n"),
        (4, 10, "4\n5"),
        (5, 1, "5"),
        (6, None, ""),
        (9, 2, ""),
        (3, 0, ""),
    ],
)
def test_read_line_and_limit(
    ws_dir: Path, line: int | None, limit: int | None, expected: str
) -> None:
    (ws_dir / "f.txt").write_bytes(b"1\n2\r\n3\n4\n5")
    assert read(Workspace(ws_dir), "f.txt", line=line, limit=limit) == expected


def test_read_line_past_a_trailing_newline(ws_dir: Path) -> None:
    (ws_dir / "f.txt").write_text("a\nb\n")
    ws = Workspace(ws_dir)
    assert read(ws, "f.txt", line=2) == "b\n"
    assert read(ws, "f.txt", line=3) == ""
    assert read(ws, "f.txt", line=1, limit=5) == "a\nb\n"


def test_read_negative_limit_is_refused(ws_dir: Path) -> None:
    (ws_dir / "f.txt").write_text("a\n")
    with pytest.raises(ValueError, match="limit"):
        read(Workspace(ws_dir), "f.txt", limit=-1)


def test_read_missing_file(ws_dir: Path) -> None:
    ws = Workspace(ws_dir)
    with pytest.raises(ResourceNotFound, match=r"nope\.txt"):
        read(ws, "nope.txt")
    with pytest.raises(ResourceNotFound):
        read(ws, "no/such/dir.txt")
    (ws_dir / "file").write_text("x")
    with pytest.raises(ResourceNotFound):
        read(ws, "file/child")


def test_read_directory_is_refused(ws_dir: Path) -> None:
    (ws_dir / "sub").mkdir()
    with pytest.raises(ResourceNotFound, match="directory"):
        read(Workspace(ws_dir), "sub")


def test_read_fifo_does_not_hang(ws_dir: Path) -> None:
    os.mkfifo(ws_dir / "pipe")
    with pytest.raises(ResourceNotFound, match="regular"):
        read(Workspace(ws_dir), "pipe")


def test_read_invalid_utf8_is_replaced(ws_dir: Path) -> None:
    (ws_dir / "bin").write_bytes(b"ok \xff\xfe \xc3\xa9")
    assert read(Workspace(ws_dir), "bin") == "ok \ufffd\ufffd é"


def test_read_large_file_in_a_thread(ws_dir: Path) -> None:
    lines = [f"line {i}\n" for i in range(1, 20001)]
    (ws_dir / "big.txt").write_text("".join(lines))
    assert (ws_dir / "big.txt").stat().st_size > INLINE_IO_LIMIT
    ws = Workspace(ws_dir)
    assert read(ws, "big.txt") == "".join(lines)
    assert read(ws, "big.txt", line=15000, limit=2) == "line 15000\nline 15001\n"


# --- writing ------------------------------------------------------------------------------------


def test_write_creates_parents_and_leaves_no_temp_file(ws_dir: Path) -> None:
    ws = Workspace(ws_dir)
    write(ws, "a/b/c.txt", "héllo\n")
    assert (ws_dir / "a" / "b" / "c.txt").read_text(encoding="utf-8") == "héllo\n"
    write(ws, "a/b/c.txt", "again")
    assert (ws_dir / "a" / "b" / "c.txt").read_text() == "again"
    assert os.listdir(ws_dir / "a" / "b") == ["c.txt"]


def test_write_large_content(ws_dir: Path) -> None:
    content = "x" * (INLINE_IO_LIMIT * 3) + "\n"
    write(Workspace(ws_dir), "big.txt", content)
    assert (ws_dir / "big.txt").read_text() == content
    assert os.listdir(ws_dir) == ["big.txt"]


def test_write_keeps_the_file_mode(ws_dir: Path) -> None:
    target = ws_dir / "script.sh"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o750)
    write(Workspace(ws_dir), "script.sh", "#!/bin/sh\necho hi\n")
    assert target.stat().st_mode & 0o777 == 0o750


def test_write_through_an_in_workspace_symlink_updates_its_target(ws_dir: Path) -> None:
    (ws_dir / "real.txt").write_text("old")
    (ws_dir / "link.txt").symlink_to("real.txt")
    write(Workspace(ws_dir), "link.txt", "new")
    assert (ws_dir / "link.txt").is_symlink()
    assert (ws_dir / "real.txt").read_text() == "new"
    assert sorted(os.listdir(ws_dir)) == ["link.txt", "real.txt"]


def test_write_outside_writes_nothing(ws_dir: Path, outside: Path) -> None:
    ws = Workspace(ws_dir)
    with pytest.raises(WorkspaceError):
        write(ws, "../outside/new/dir/x.txt", "pwned")
    with pytest.raises(WorkspaceError):
        write(ws, "../outside/secret.txt", "pwned")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret\n"
    assert os.listdir(ws_dir) == []


def test_write_to_a_directory_is_refused(ws_dir: Path) -> None:
    (ws_dir / "sub").mkdir()
    with pytest.raises(AcphostError, match="directory"):
        write(Workspace(ws_dir), "sub", "x")
    assert (ws_dir / "sub").is_dir()
