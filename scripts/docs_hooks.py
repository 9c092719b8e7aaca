"""mkdocs hooks: pages that are generated from the code, so the reference cannot drift from it.

``<!-- rest-endpoints -->`` becomes the table of the committed ``openapi.json``'s operations, and
``<!-- cli-help -->`` the ``--help`` of every ``acphost`` command, as argparse prints it. The
docstrings' reST roles (``:class:`X```) are shown as plain code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_ROLE = re.compile(r":(?:class|meth|func|data|attr|exc|mod|obj):(?=<code>)")
METHODS = ("get", "post", "put", "patch", "delete")


def rest_endpoints() -> str:
    """A Markdown table of every REST operation of the committed OpenAPI document."""
    document = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    rows = ["| Method | Path | What it does | Key |", "| --- | --- | --- | --- |"]
    for path, operations in document["paths"].items():
        for method in (m for m in METHODS if m in operations):
            operation = operations[method]
            what = (operation.get("description") or operation.get("summary") or "").split("\n")[0]
            key = "yes" if operation.get("security") else "no"
            rows.append(f"| `{method.upper()}` | `{path}` | {what.replace('|', '/')} | {key} |")
    return "\n".join(rows)


def _commands(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, str]]:
    found = [(name, parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                if sub.prog.endswith(f" {sub_name}"):  # aliases repeat their command
                    found += _commands(sub, f"{name} {sub_name}")
    return found


def cli_help() -> str:
    """Every command's ``--help``, as a section each."""
    from acphost.cli import build_parser

    os.environ["COLUMNS"] = "100"  # the same text on every terminal
    sections = []
    seen: set[str] = set()
    for name, text in _commands(build_parser(), "acphost"):
        if text in seen:
            continue
        seen.add(text)
        sections.append(f"## `{name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(sections)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs hook: fill the generated parts of a page."""
    if "<!-- rest-endpoints -->" in markdown:
        markdown = markdown.replace("<!-- rest-endpoints -->", rest_endpoints())
    if "<!-- cli-help -->" in markdown:
        markdown = markdown.replace("<!-- cli-help -->", cli_help())
    return markdown


def on_page_content(html: str, **_: Any) -> str:
    """mkdocs hook: drop the reST role prefix before a docstring's code span."""
    return _ROLE.sub("", html)
