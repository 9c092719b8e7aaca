"""Helpers of the jobs tests: fake agents that count their starts, waits on the store."""

from __future__ import annotations

import shlex
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from acphost.testing import Scenario, fake_agent_command

DEADLINE = 60.0


def writes(cost: float | None = None) -> Scenario:
    """A turn that says something, writes out.txt, reports ``cost`` and ends."""
    scenario = Scenario("writes").turn().text("on it").write_file("out.txt", "done")
    if cost is not None:
        scenario = scenario.usage(used=10, size=100, cost=cost)
    return scenario.stop()


HANGS = Scenario("slow").turn().tool_call("c1", title="Working").sleep(120).stop()


def counting_agent(
    tmp_path: Path, *, hang_on: int = 0, fail_first: int = 0, cost: float = 0.01
) -> list[str]:
    """An agent command (a shell) that counts its starts in ``tmp_path/starts``: its first
    ``fail_first`` starts exit before saying a word, start number ``hang_on`` hangs in a tool
    call, every other start writes out.txt."""
    quick = shlex.join(fake_agent_command(writes(cost), directory=tmp_path))
    slow = shlex.join(fake_agent_command(HANGS, directory=tmp_path))
    count = tmp_path / "starts"
    script = (
        f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; "
        f'if [ "$n" -le {fail_first} ]; then exit 3; fi; '
        f'if [ "$n" = {hang_on} ]; then exec {slow}; fi; exec {quick}'
    )
    return ["sh", "-c", script]


def starts(tmp_path: Path) -> int:
    return int((tmp_path / "starts").read_text())


def wait_for(what: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` (a look at the store) until it holds, failing at the deadline."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def trial_row(db: Path, task: str, agent: str | None = None) -> dict[str, Any] | None:
    """The stored record of a task's trial, read with plain SQL (another process writes)."""
    if not db.exists():
        return None
    sql, params = "SELECT data FROM job_trials WHERE task_id = ?", [task]
    if agent is not None:
        sql, params = sql + " AND agent = ?", [task, agent]
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute(sql, params).fetchone()
        except sqlite3.OperationalError:  # the tables are not made yet
            return None
    return None if row is None else orjson.loads(row[0])


def has_event(db: Path, conversation_id: str, kind: str) -> bool:
    with sqlite3.connect(db) as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM events WHERE conversation_id = ? AND kind = ?",
                (conversation_id, kind),
            ).fetchone()
        )
