"""The SQLite store's schema and its migrations (``PRAGMA user_version`` counts them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from acphost.store._base import StoreError

__all__ = ["SCHEMA_VERSION", "migrate"]

_SCHEMA_V1 = """
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    title       TEXT,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    session_id  TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX conversations_by_updated ON conversations (updated_at DESC);
CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    ts              REAL NOT NULL,
    data            BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
"""


def _create_v1(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction.
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


# The header follows the log: the events that change a conversation's status, title or
# session update its row in the statement that inserts them (no second statement, so a
# small batch is one autocommit INSERT). JSON is stored as a blob: CAST before json_extract.
_HEADER_TRIGGERS = (
    """CREATE TRIGGER events_set_status AFTER INSERT ON events
    WHEN NEW.kind = 'status_changed' BEGIN
        UPDATE conversations
        SET status = json_extract(CAST(NEW.data AS TEXT), '$.status'), updated_at = NEW.ts
        WHERE id = NEW.conversation_id;
    END""",
    """CREATE TRIGGER events_set_title AFTER INSERT ON events
    WHEN NEW.kind = 'session_info' BEGIN
        UPDATE conversations
        SET title = coalesce(json_extract(CAST(NEW.data AS TEXT), '$.title'), title),
            updated_at = NEW.ts
        WHERE id = NEW.conversation_id;
    END""",
    """CREATE TRIGGER events_set_session AFTER INSERT ON events
    WHEN NEW.kind IN ('session_started', 'session_loaded', 'session_resumed',
                      'session_restarted') BEGIN
        UPDATE conversations
        SET session_id = json_extract(CAST(NEW.data AS TEXT), '$.session_id'),
            updated_at = NEW.ts
        WHERE id = NEW.conversation_id;
    END""",
)


def _add_header_triggers(conn: sqlite3.Connection) -> None:
    for statement in _HEADER_TRIGGERS:
        conn.execute(statement)


# _MIGRATIONS[n] brings a database from user_version n to n + 1; append, never edit.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_v1,
    _add_header_triggers,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` under the write lock.

    ``BEGIN IMMEDIATE`` makes concurrent openers (other processes) migrate one at a time: the
    second one re-reads ``user_version`` after the first committed and finds nothing to do.
    """
    try:
        conn.execute("SELECT json_extract('{}', '$')")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"this Python's SQLite ({sqlite3.sqlite_version}) has no JSON functions",
            hint="use a Python built with SQLite 3.38 or newer (JSON is built in since then)",
        ) from exc
    conn.execute("BEGIN IMMEDIATE")
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {version} is newer than this acphost's"
                f" ({SCHEMA_VERSION})",
                hint="upgrade acphost or point it at another database",
            )
        for step in _MIGRATIONS[version:]:
            step(conn)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
