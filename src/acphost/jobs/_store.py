"""Job and trial records, in the same SQLite file as the trials' conversations.

The tables belong to this module (``CREATE TABLE IF NOT EXISTS``); the event store's own
schema is untouched. A trial row is written when the trial starts (outcome ``running``, with
its conversation's id) and again when it ends, so a job process killed mid-trial leaves a row
saying which conversation was cut short, and the next run of the job runs that cell again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from acphost.jobs._schema import Job
from acphost.store import SQLiteStore, StoreError

__all__ = ["FINISHED", "JobRecord", "JobStore", "Outcome", "TrialRecord"]

Outcome = Literal["running", "passed", "failed", "error", "timed_out", "over_budget", "cancelled"]
#: Outcomes that finish a cell: a resumed job does not run it again.
FINISHED: frozenset[str] = frozenset(("passed", "failed", "error", "timed_out", "over_budget"))

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id          TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS job_trials (
        job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        task_id     TEXT NOT NULL,
        agent       TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (job_id, task_id, agent, attempt)
    )""",
)


class TrialRecord(BaseModel):
    """One trial: its cell, outcome, conversation and figures.

    ``previous`` lists the conversations of earlier tries of the cell (retries, or runs cut
    short by a dead job process or node): nothing an agent did is lost. ``tries`` counts the
    tries over every run of the job; try ``n`` of attempt ``a`` has the workspace folder
    ``<workdir>/<job>/<task>/<agent>/<a>.<n>``.
    """

    job_id: str
    task_id: str
    agent: str
    attempt: int
    outcome: Outcome = "running"
    conversation_id: str | None = None
    previous: list[str] = Field(default_factory=list)
    tries: int = 1
    cost: float | None = None
    currency: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    wall_time: float = 0.0
    stop_reason: str | None = None
    check_exit: int | None = None
    check_output: str | None = None
    score: float | None = None
    error: dict[str, Any] | None = None
    node: str | None = None
    started_at: float = Field(default_factory=time.time)
    ended_at: float | None = None

    @property
    def cell(self) -> tuple[str, str, int]:
        """(task, agent, attempt): the trial's place in the job."""
        return (self.task_id, self.agent, self.attempt)

    @property
    def finished(self) -> bool:
        """Whether the cell is done: a resumed job does not run it again."""
        return self.outcome in FINISHED


class JobRecord(BaseModel):
    """A stored job: its definition and where it stands."""

    id: str
    job: Job
    status: str
    created_at: float
    updated_at: float


class JobStore:
    """Jobs and trials in a SQLite file; ``events`` is the conversations' store in it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.events = SQLiteStore(self.path)  # creates the file and its own schema first
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            # WAL (set by the event store): NORMAL commits survive a killed process
            self._conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            self.events.close()
            raise StoreError(f"cannot open the job tables in {self.path!r}: {exc}") from exc

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"job store operation failed: {exc}") from exc

    # --- jobs ----------------------------------------------------------------------------

    def save_job(self, job: Job, status: str = "running") -> None:
        """Store the job (a rerun stores its current definition: new cells will run)."""
        now = time.time()
        spec = job.model_dump_json()
        with self._db() as conn:
            conn.execute(
                "INSERT INTO jobs (id, spec, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " spec = excluded.spec, status = excluded.status,"
                " updated_at = excluded.updated_at",
                (job.name, spec, status, now, now),
            )

    def set_status(self, job_id: str, status: str) -> None:
        """``running``, ``finished``, ``budget_reached`` or ``stopped``."""
        with self._db() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?",
                (status, time.time(), job_id),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The stored job, or ``None``."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT id, spec, status, created_at, updated_at FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
        return None if row is None else _job(row)

    def list_jobs(self) -> list[JobRecord]:
        """Every job, most recently updated first."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT id, spec, status, created_at, updated_at FROM jobs ORDER BY updated_at DESC"
            ).fetchall()
        return [_job(row) for row in rows]

    # --- trials --------------------------------------------------------------------------

    def put_trial(self, record: TrialRecord) -> None:
        """Insert or replace the cell's row."""
        with self._db() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO job_trials"
                " (job_id, task_id, agent, attempt, outcome, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.job_id,
                    record.task_id,
                    record.agent,
                    record.attempt,
                    record.outcome,
                    record.model_dump_json(),
                ),
            )

    def trials(self, job_id: str) -> list[TrialRecord]:
        """The job's trials, by task, agent and attempt."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT data FROM job_trials WHERE job_id = ? ORDER BY task_id, agent, attempt",
                (job_id,),
            ).fetchall()
        return [TrialRecord.model_validate(orjson.loads(row[0])) for row in rows]

    def close(self) -> None:
        """Close both connections; idempotent."""
        with self._lock:
            self._conn.close()
        self.events.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _job(row: Any) -> JobRecord:
    return JobRecord(
        id=row[0],
        job=Job.model_validate_json(row[1]),
        status=row[2],
        created_at=row[3],
        updated_at=row[4],
    )
