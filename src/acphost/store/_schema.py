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


def _run(conn: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


# v2: the header follows the log: the events that change a conversation's status, title or
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


# v3: no triggers, and the status is read from the log instead of written into the header.
# Measured per commit of a trivial turn: rewriting the row and its updated_at index cost
# ~45 us, the mere presence of AFTER INSERT triggers ~4 us an inserted row, a partial index
# on status events ~15 us; the turn itself is ~0.5 ms. The store now writes the title and
# session into the row itself (rare events), and readers see the conversation_heads view:
# the last status_changed event after ``head_seq`` (the log's end when the row was last
# written) gives the status and, if newer, updated_at. Finding it walks the log back from
# its end through the primary key: a few rows, a turn's worth while one is running.
_HEADS_V3 = """
DROP TRIGGER events_set_status;
DROP TRIGGER events_set_title;
DROP TRIGGER events_set_session;
DROP INDEX conversations_by_updated;
ALTER TABLE conversations ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0;
UPDATE conversations
SET head_seq = coalesce(
    (SELECT max(e.seq) FROM events e WHERE e.conversation_id = conversations.id), 0);
CREATE VIEW conversation_heads AS
SELECT h.id, h.agent, h.workspace, h.title,
       coalesce(json_extract(CAST(e.data AS TEXT), '$.status'), h.status) AS status,
       h.created_at, max(h.updated_at, coalesce(e.ts, h.updated_at)) AS updated_at,
       h.session_id, h.metadata, h.row
FROM (SELECT c.*, c.rowid AS row,
             (SELECT s.seq FROM events s
              WHERE s.conversation_id = c.id AND s.seq > c.head_seq
                AND s.kind = 'status_changed'
              ORDER BY s.seq DESC LIMIT 1) AS status_seq
      FROM conversations c) h
LEFT JOIN events e ON e.conversation_id = h.id AND e.seq = h.status_seq
"""


# v4: the owner of a conversation's turns (see _owner.py), so that readers tell a running turn
# from one whose process died. The view passes it on; the reading queries (``_sqlite.py``)
# turn a running status whose owner is gone into ``paused``. A turn already running when the
# database is upgraded was started by an older acphost: its owner is pid 0, i.e. gone.
_OWNER_V4 = """
ALTER TABLE conversations ADD COLUMN owner_host TEXT;
ALTER TABLE conversations ADD COLUMN owner_pid INTEGER;
ALTER TABLE conversations ADD COLUMN owner_started TEXT;
UPDATE conversations SET owner_pid = 0
WHERE id IN (SELECT id FROM conversation_heads WHERE status = 'running');
DROP VIEW conversation_heads;
CREATE VIEW conversation_heads AS
SELECT h.id, h.agent, h.workspace, h.title,
       coalesce(json_extract(CAST(e.data AS TEXT), '$.status'), h.status) AS status,
       h.created_at, max(h.updated_at, coalesce(e.ts, h.updated_at)) AS updated_at,
       h.session_id, h.metadata, h.row, h.owner_host, h.owner_pid, h.owner_started
FROM (SELECT c.*, c.rowid AS row,
             (SELECT s.seq FROM events s
              WHERE s.conversation_id = c.id AND s.seq > c.head_seq
                AND s.kind = 'status_changed'
              ORDER BY s.seq DESC LIMIT 1) AS status_seq
      FROM conversations c) h
LEFT JOIN events e ON e.conversation_id = h.id AND e.seq = h.status_seq
"""


def _create_v1(conn: sqlite3.Connection) -> None:
    _run(conn, _SCHEMA_V1)


def _derive_the_status(conn: sqlite3.Connection) -> None:
    _run(conn, _HEADS_V3)


def _add_the_owner(conn: sqlite3.Connection) -> None:
    _run(conn, _OWNER_V4)


# _MIGRATIONS[n] brings a database from user_version n to n + 1; append, never edit.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_v1,
    _add_header_triggers,
    _derive_the_status,
    _add_the_owner,
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
