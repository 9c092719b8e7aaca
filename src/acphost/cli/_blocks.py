"""How the content of a tool call (and other blocks of text) prints: text, terminals, diffs,
indented under their line and cut short unless the renderer is verbose."""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, Any

from rich.text import Text

from acphost.cli._wording import INDENT, block_key

if TYPE_CHECKING:
    from acphost.cli._render import Renderer

__all__ = ["BlockPrinter"]


class BlockPrinter:
    """Prints content blocks for a :class:`Renderer`, with its settings (verbose, limits,
    workspace); remembers the diffs it showed uncut (a permission prompt need not repeat them)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.line = renderer.line
        self.whole_diffs: set[str] = set()

    def content(self, block: dict[str, Any]) -> None:
        """One block of a tool call's content (ACP ``ToolCallContent``)."""
        kind = block.get("type")
        if kind == "diff":
            self.diff(block)
        elif kind == "terminal":
            self.line(INDENT, (f"terminal {block.get('terminalId', '?')}", "dim"))
        elif kind == "content" and isinstance(block.get("content"), dict):
            inner: dict[str, Any] = block["content"]
            if inner.get("type") == "text":
                self.text(str(inner.get("text", "")), "")
            else:
                where = inner.get("uri") or (inner.get("resource") or {}).get("uri") or ""
                self.line(INDENT, (f"[{inner.get('type')}] {where}".rstrip(), "dim"))
        else:
            self.line(INDENT, (f"[{kind}]", "dim"))

    def text(self, text: str, style: str) -> None:
        """Text, indented, in ``style``."""
        lines = text.rstrip("\n").splitlines()
        for line in self._cut(lines, self.renderer.max_lines):
            if isinstance(line, Text):
                self.line(INDENT, line)
            else:
                self.line(INDENT, (line, style))

    def _cut(self, lines: list[str], limit: int) -> list[str | Text]:
        if self.renderer.verbose or len(lines) <= limit:
            return list(lines)
        more = Text(f"… {len(lines) - limit} more lines (--verbose shows all)", style="dim")
        return [*lines[:limit], more]

    def _relative(self, path: str) -> str:
        if self.renderer.workspace and os.path.isabs(path):
            rel = os.path.relpath(path, self.renderer.workspace)
            if not rel.startswith(".."):
                return rel
        return path

    def diff(self, block: dict[str, Any]) -> None:
        """A ``diff`` block as a unified diff, its path relative to the workspace."""
        path = self._relative(str(block.get("path", "?")))
        old, new = block.get("oldText"), str(block.get("newText") or "")
        before, after = (path, path) if os.path.isabs(path) else (f"a/{path}", f"b/{path}")
        lines = list(
            difflib.unified_diff(
                str(old or "").splitlines(),
                new.splitlines(),
                "/dev/null" if old is None else before,
                after,
                lineterm="",
            )
        )
        if not lines:
            self.line(INDENT, (f"{path}: no changes", "dim"))
            return
        if self.renderer.verbose or len(lines) <= self.renderer.max_diff_lines:
            self.whole_diffs.add(block_key(block))
        for line in self._cut(lines, self.renderer.max_diff_lines):
            if isinstance(line, Text):
                self.line(INDENT, line)
            elif line.startswith(("---", "+++")):
                self.line(INDENT, (line, "bold"))
            elif line.startswith("@@"):
                self.line(INDENT, (line, "cyan"))
            elif line.startswith("+"):
                self.line(INDENT, (line, "green"))
            elif line.startswith("-"):
                self.line(INDENT, (line, "red"))
            else:
                self.line(INDENT, line)
