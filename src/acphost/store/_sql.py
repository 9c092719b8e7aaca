"""The SQL the SQLite store runs, and how its rows become records (and changes, rows)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import orjson

from acphost.store._base import (
    UNSET,
    ConversationNotFound,
    ConversationRecord,
    EventRecord,
    Owner,
    StoreBusy,
    StoreError,
    Unset,
)

__all__ = [
    "CHUNK",
    "CONV_COLUMNS",
    "EVENT_COLUMNS",
    "GONE",
    "HEADER_KINDS",
    "HEADS",
    "OWNER_COLUMNS",
    "READ_COLUMNS",
    "apply_update",
    "event_query",
    "header_changes",
    "insert_rows",
    "list_filters",
    "owner_gone",
    "row_record",
    "store_error",
    "update_fields",
]

CONV_COLUMNS = "id, agent, workspace, title, status, created_at, updated_at, session_id, metadata"
EVENT_COLUMNS = "conversation_id, seq, id, kind, ts, data"
# Rows per multi-row INSERT (384 parameters: under SQLite's oldest limit, 999). One statement
# is one call into SQLite, which releases the GIL once: executemany released it for every
# row and waited for it again while the I/O loop ran, ~30 us a row in a permission storm.
CHUNK = 64


@functools.cache
def insert_rows(count: int) -> str:
    """The INSERT of ``count`` event rows in one statement (cached per count)."""
    return f"INSERT INTO events ({EVENT_COLUMNS}) VALUES " + ", ".join(
        ["(?, ?, ?, ?, ?, ?)"] * count
    )


OWNER_COLUMNS = "owner_host, owner_pid, owner_started"
GONE = f"status = 'running' AND acphost_owner_gone({OWNER_COLUMNS})"
# The rows with the status the log gives them (see _schema.py), except that a running turn
# whose owner is gone reads paused (see _owner.py).
HEADS = f"""(SELECT id, agent, workspace, title,
       CASE WHEN {GONE} THEN 'paused' ELSE status END AS status,
       created_at, updated_at, session_id, metadata, row, {OWNER_COLUMNS}
FROM conversation_heads)"""
READ_COLUMNS = f"{CONV_COLUMNS}, {OWNER_COLUMNS}"


def row_record(row: Any) -> ConversationRecord:
    """A conversation row (:data:`READ_COLUMNS` of :data:`HEADS`) as its record."""
    record = ConversationRecord(*row[:8])
    record.metadata = orjson.loads(row[8])  # the column holds JSON text
    if row[10] is not None:
        record.owner = Owner(row[9] or "", row[10], row[11])
    return record


def owner_gone(host: str | None, pid: int | None, started: str | None) -> bool:
    """SQL ``acphost_owner_gone(...)``: no owner recorded is not a gone one."""
    return pid is not None and Owner(host or "", pid, started).gone()


def list_filters(
    status: str | None, agent: str | None, search: str | None
) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters of a conversation listing."""
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    if agent is not None:
        clauses.append("agent = ?")
        params.append(agent)
    if search:  # instr, not LIKE: no wildcard escaping, `%` and `_` are literal
        clauses.append("(instr(lower(coalesce(title, '')), ?) > 0 OR instr(lower(id), ?) > 0)")
        params += [search.lower(), search.lower()]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def event_query(
    conversation_id: str, after_seq: int, kinds: Collection[str] | None, limit: int | None
) -> tuple[str, list[Any]]:
    """The SELECT of a conversation's events after ``after_seq`` and its parameters."""
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = ? AND seq > ?"
    params: list[Any] = [conversation_id, after_seq]
    if kinds is not None:
        kinds = list(kinds)
        sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params += kinds
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def update_fields(
    title: str | Unset | None = UNSET,
    status: str | Unset = UNSET,
    session_id: str | Unset | None = UNSET,
    metadata: dict[str, Any] | Unset = UNSET,
    updated_at: float | Unset = UNSET,
) -> dict[str, Any]:
    """The columns an update sets (metadata as JSON text), without the unset ones."""
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", title),
            ("status", status),
            ("session_id", session_id),
            ("updated_at", updated_at),
        )
        if value is not UNSET
    }
    if not isinstance(metadata, Unset):
        changes["metadata"] = orjson.dumps(metadata).decode()
    return changes


# The row takes in what the log says (status, updated_at) up to its end, so that the given
# changes land on the current header and later events still win over them.
CATCH_UP = """
UPDATE conversations SET (status, updated_at, head_seq) = (
    SELECT h.status, h.updated_at,
           coalesce((SELECT max(seq) FROM events WHERE conversation_id = ?1), 0)
    FROM conversation_heads h WHERE h.id = ?1)
WHERE id = ?1"""


def apply_update(
    conn: sqlite3.Connection, id: str, changes: dict[str, Any], *, newer: bool = False
) -> None:
    """``newer``: ``updated_at`` only moves forward (the log's events set it)."""
    if not conn.execute(CATCH_UP, (id,)).rowcount:
        raise ConversationNotFound(f"no conversation {id!r}")
    if changes:
        assignments = ", ".join(
            "updated_at = max(updated_at, ?)" if newer and name == "updated_at" else f"{name} = ?"
            for name in changes
        )
        conn.execute(
            f"UPDATE conversations SET {assignments} WHERE id = ?", (*changes.values(), id)
        )


SESSION_KINDS = frozenset(
    ("session_started", "session_loaded", "session_resumed", "session_restarted")
)
HEADER_KINDS = SESSION_KINDS | {"session_info"}


def header_changes(events: Sequence[EventRecord]) -> dict[str, dict[str, Any]]:
    """What title and session events change in their conversations' rows, in log order."""
    changes: dict[str, dict[str, Any]] = {}
    for event in events:
        data = orjson.loads(event.data)
        row = changes.setdefault(event.conversation_id, {})
        if event.kind in SESSION_KINDS:
            row["session_id"] = data.get("session_id")
        elif data.get("title") is not None:  # a session_info without a title keeps the old one
            row["title"] = data["title"]
        row["updated_at"] = event.ts
    return changes


def store_error(exc: sqlite3.Error, context: str) -> StoreError:
    """A StoreError for a sqlite error; lock timeouts are retryable :class:`StoreBusy`."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc):
        return StoreBusy(f"{context}: {exc}")
    return StoreError(f"{context}: {exc}")
