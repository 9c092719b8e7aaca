"""Reading job files (TOML, YAML, JSON; tasks inline or from a JSONL) into a :class:`Job`.

Every problem is a :class:`JobFileError` naming the file and the line: parse errors carry the
parser's position, validation errors are located by walking the document to the failing key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acphost.errors import UsageError
from acphost.jobs._schema import Job

__all__ = ["JobFileError", "load_job", "parse_job"]

Loc = tuple[int | str, ...]


class JobFileError(UsageError):
    """A job file (or its tasks file) cannot be read or does not fit the job schema."""

    code = "job_file_invalid"
    default_hint = "fix the file at the line shown (docs/jobs.md describes the format)"

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "path": self.path, "line": self.line}


def load_job(path: str | os.PathLike[str]) -> Job:
    """Read and validate a job file; relative paths in it are relative to its folder."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise JobFileError(f"cannot read the job file: {exc.strerror}", path=str(file)) from exc
    return parse_job(text, path=str(file), base=file.parent)


def parse_job(text: str, *, path: str, base: str | os.PathLike[str] = ".") -> Job:
    """Validate a job document given as text; ``path`` names it in errors (and its format)."""
    suffix = Path(path).suffix.lower()
    data, locate = _parse(text, path, suffix)
    if not isinstance(data, dict):
        raise JobFileError("a job file must hold a table of settings", path=path, line=1)
    data.setdefault("name", Path(path).stem)
    tasks_from: tuple[str, list[int]] | None = None
    if "tasks_file" in data:
        tasks_path = Path(base) / str(data.pop("tasks_file"))
        data["tasks"], lines = _read_jsonl(tasks_path, data.get("tasks"))
        tasks_from = (str(tasks_path), lines)
    _resolve_paths(data, Path(base))
    try:
        return Job.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, path, locate, tasks_from) from None


def _parse(text: str, path: str, suffix: str) -> tuple[Any, Any]:
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text, path)
    if suffix == ".json":
        try:
            return json.loads(text), lambda loc: None
        except json.JSONDecodeError as exc:
            raise JobFileError(exc.msg, path=path, line=exc.lineno) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        raise JobFileError(
            str(exc).split(" (at")[0], path=path, line=int(found[1]) if found else None
        ) from None
    return data, lambda loc: _toml_line(text, loc)


def _parse_yaml(text: str, path: str) -> tuple[Any, Any]:
    try:
        import yaml
    except ImportError:
        raise JobFileError(
            "YAML job files need PyYAML", path=path, line=None
        ) from None  # pragma: no cover - PyYAML comes with the dev tools
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise JobFileError(
            str(getattr(exc, "problem", exc)), path=path, line=mark.line + 1 if mark else None
        ) from None
    return data, lambda loc: _yaml_line(node, loc)


def _yaml_line(node: Any, loc: Loc) -> int | None:
    line: int | None = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if node is None:
            break
        if isinstance(key, int) and isinstance(node.value, list):
            node = node.value[key] if key < len(node.value) else None
            if node is not None and not isinstance(node.value, str | list):
                break
        elif isinstance(node.value, list):
            pair = next((p for p in node.value if getattr(p[0], "value", None) == key), None)
            node = pair[1] if pair else None
            if pair:
                line = pair[0].start_mark.line + 1
            continue
        if node is not None:
            line = node.start_mark.line + 1
    return line


def _toml_line(text: str, loc: Loc) -> int | None:
    """The line of ``loc`` in a TOML document: ``[[tasks]]`` headers count the array items."""
    lines = text.splitlines()
    start, end, line = 0, len(lines), None
    table = ""
    for key in loc:
        if isinstance(key, int):
            headers = [
                i for i in range(start, end) if lines[i].strip().replace(" ", "") == f"[[{table}]]"
            ]
            if key < len(headers):
                start = line = headers[key]
                nxt = [i for i in range(start + 1, end) if lines[i].lstrip().startswith("[")]
                end = min([*nxt, end])
                line = start + 1
            continue
        table = f"{table}.{key}" if table else key
        pattern = re.compile(rf"^\s*(\[+\s*)?{re.escape(str(key))}\s*(=|\]|\.)")
        found = next((i for i in range(start, end) if pattern.match(lines[i])), None)
        if found is None:
            found = next(
                (
                    i
                    for i in range(len(lines))
                    if lines[i].strip().replace(" ", "") in (f"[{table}]", f"[[{table}]]")
                ),
                None,
            )
        if found is not None:
            line, start = found + 1, found
            if not lines[found].lstrip().startswith("["):
                table = ""  # a key = value line: deeper keys are inline
    return line


def _read_jsonl(path: Path, inline: Any) -> tuple[list[Any], list[int]]:
    """The tasks of a JSONL file (one task per line; blank and ``#`` lines skipped), and the
    line of each, after any inline tasks."""
    tasks = list(inline or [])
    lines = [0] * len(tasks)
    try:
        text = path.read_text()
    except OSError as exc:
        raise JobFileError(f"cannot read the tasks file: {exc.strerror}", path=str(path)) from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            tasks.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise JobFileError(f"not JSON: {exc.msg}", path=str(path), line=number) from None
        lines.append(number)
    return tasks, [-1 if n == 0 else n for n in lines]


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Local workspace folders and repositories are relative to the job file's folder."""
    for task in data.get("tasks") or []:
        workspace = task.get("workspace") if isinstance(task, dict) else None
        if not isinstance(workspace, dict):
            continue
        for key in ("path", "git"):
            value = workspace.get(key)
            if isinstance(value, str) and "://" not in value and not os.path.isabs(value):
                candidate = base / value
                if key == "path" or candidate.exists():
                    workspace[key] = str(candidate.resolve())


def _error(
    exc: ValidationError, path: str, locate: Any, tasks_from: tuple[str, list[int]] | None
) -> JobFileError:
    first = exc.errors()[0]
    loc: Loc = tuple(first["loc"])
    dotted = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".")
    message = f"{dotted}: {first['msg']}" if dotted else str(first["msg"])
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    if tasks_from is not None and len(loc) > 1 and loc[0] == "tasks" and isinstance(loc[1], int):
        tasks_path, lines = tasks_from
        line = lines[loc[1]] if loc[1] < len(lines) else -1
        if line > 0:
            return JobFileError(message, path=tasks_path, line=line)
    return JobFileError(message, path=path, line=locate(loc))
