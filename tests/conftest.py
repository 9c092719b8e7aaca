"""Shared fixtures: every test gets a workspace and bounded waits."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# Demo project\nline two\nline three\n")
    return root


@pytest.fixture
def python() -> str:
    return sys.executable
