"""The SQLite event store: one file, WAL, append-only event logs.

Durability: the database runs in WAL mode with ``synchronous=NORMAL`` by default. A committed
transaction is then in the WAL file before ``append`` returns, so it survives the process being
killed (SIGKILL, OOM) — only a power loss or OS crash can drop the last commits, and never
corrupts the file. ``synchronous="FULL"`` fsyncs every commit to survive power loss too, at a
large cost per commit (batch appends to amortize it). WAL checkpoints run on a background
thread, never inside a commit a conversation waits for (``_checkpoint.py``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import astuple
from typing import Any, Literal, Self

import orjson

from acphost.store._base import (
    UNSET,
    ConversationExists,
    ConversationNotFound,
    ConversationRecord,
    EventRecord,
    Owner,
    SeqConflict,
    StoreError,
    Unset,
)
from acphost.store._checkpoint import Checkpointer
from acphost.store._schema import SCHEMA_VERSION, migrate
from acphost.store._sql import (
    CHUNK,
    EVENT_COLUMNS,
    GONE,
    HEADER_KINDS,
    HEADS,
    OWNER_COLUMNS,
    READ_COLUMNS,
    apply_update,
    event_query,
    header_changes,
    insert_rows,
    list_filters,
    owner_gone,
    row_record,
    store_error,
    update_fields,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_WAL_SIZE_LIMIT = 64 << 20  # after a checkpoint, a larger WAL file is truncated to this
# Page cache per connection (SQLite's default is 2 MiB): writes are appends and reads stream
# pages in key order, so a small cache costs nothing measurable; the OS caches the file.
_CACHE_KIB = 512
_PAGE_SIZE = 1000


class SQLiteStore:
    """An :class:`~acphost.store.EventStore` in one SQLite file (or ``":memory:"``).

    One connection per instance, shared by threads under a lock (SQLite connections are not
    safe to use concurrently). Several instances and processes may open the same file: WAL lets
    readers run beside the single writer, and ``busy_timeout`` makes writers queue instead of
    failing at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout,  # SQLite's busy_timeout: wait for other writers
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the event store {self.path!r}: {exc}") from exc
        try:
            wal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
            if wal:  # checkpoints run on a background thread (see _checkpoint.py)
                conn.execute("PRAGMA wal_autocheckpoint = 0")
                conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.create_function("acphost_owner_gone", 3, owner_gone)
            migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise store_error(exc, f"cannot open the event store {self.path!r}") from exc
            raise
        self._conn: sqlite3.Connection | None = conn
        self._checkpointer = Checkpointer(self.path, self) if wal else None
        self._last_seq: dict[str, int] = {}  # what this store wrote last, per conversation

    # -- plumbing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the instance lock, with sqlite errors made StoreErrors."""
        with self._lock:
            if self._conn is None:
                raise StoreError("the event store is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise store_error(exc, "event store operation failed") from exc

    @contextlib.contextmanager
    def _write(self, nbytes: int = 0) -> Iterator[sqlite3.Connection]:
        """A write transaction; IMMEDIATE so read-then-write never fails to upgrade.

        ``nbytes``: about how much it writes, so that checkpoints keep pace with the WAL.
        """
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # also after a failed (busy) COMMIT
                    conn.execute("ROLLBACK")
                raise
            if self._checkpointer is not None:
                self._checkpointer.wrote(nbytes)

    # -- conversations ------------------------------------------------------------------

    def create_conversation(self, record: ConversationRecord) -> None:
        """Store a new conversation; :class:`ConversationExists` if the id is taken."""
        owner = record.owner
        row = (
            *astuple(record)[:8],
            orjson.dumps(record.metadata).decode(),
            *((None, None, None) if owner is None else (owner.host, owner.pid, owner.started)),
        )
        with self._write() as conn:
            inserted = conn.execute(
                f"INSERT INTO conversations ({READ_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (id) DO NOTHING",
                row,
            ).rowcount
            if not inserted:
                raise ConversationExists(f"conversation {record.id!r} already exists")

    def update_conversation(
        self,
        id: str,
        *,
        title: str | Unset | None = UNSET,
        status: str | Unset = UNSET,
        session_id: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
        updated_at: float | Unset = UNSET,
    ) -> None:
        """Change only the given fields; :class:`ConversationNotFound` if unknown."""
        changes = update_fields(title, status, session_id, metadata, updated_at)
        with self._write() as conn:
            apply_update(conn, id, changes)

    def set_owner(self, id: str, owner: Owner) -> None:
        """Record the process that drives the conversation's turns (before it runs one)."""
        with self._write() as conn:
            if not conn.execute(
                f"UPDATE conversations SET ({OWNER_COLUMNS}) = (?, ?, ?) WHERE id = ?",
                (owner.host, owner.pid, owner.started, id),
            ).rowcount:
                raise ConversationNotFound(f"no conversation {id!r}")

    def dangling_turns(self) -> list[str]:
        """The conversations whose log ends in a running turn whose owner is gone."""
        with self._db() as conn:
            rows = conn.execute(f"SELECT id FROM conversation_heads WHERE {GONE}").fetchall()
        return [row[0] for row in rows]

    def get_conversation(self, id: str) -> ConversationRecord | None:
        """The conversation's record, or ``None`` if there is no such conversation."""
        with self._db() as conn:
            row = conn.execute(f"SELECT {READ_COLUMNS} FROM {HEADS} WHERE id = ?", (id,)).fetchone()
        return None if row is None else row_record(row)

    def list_conversations(
        self,
        *,
        status: str | None = None,
        agent: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationRecord]:
        """Newest ``updated_at`` first (ties: most recently created first).

        The status and updated_at come from each conversation's log, so listing reads every
        conversation (one walk back from its log's end each): ~16 ms for 10,000 of them.
        """
        where, params = list_filters(status, agent, search)
        sql = (
            f"SELECT {READ_COLUMNS} FROM {HEADS}{where}"
            " ORDER BY updated_at DESC, row DESC LIMIT ? OFFSET ?"
        )
        with self._db() as conn:
            rows = conn.execute(sql, (*params, limit, offset)).fetchall()
        return [row_record(row) for row in rows]

    def count_conversations(
        self, *, status: str | None = None, agent: str | None = None, search: str | None = None
    ) -> int:
        """How many conversations :meth:`list_conversations` would give with these filters."""
        where, params = list_filters(status, agent, search)
        with self._db() as conn:
            count: int = conn.execute(
                f"SELECT count(*) FROM {HEADS if status else 'conversations'}{where}", params
            ).fetchone()[0]
        return count

    def delete_conversation(self, id: str) -> bool:
        """Delete a conversation and (by cascade) its events; whether it existed."""
        self._last_seq.pop(id, None)
        with self._write() as conn:
            return conn.execute("DELETE FROM conversations WHERE id = ?", (id,)).rowcount > 0

    # -- events -------------------------------------------------------------------------

    def append(
        self, events: Sequence[EventRecord], *, update: Mapping[str, Any] | None = None
    ) -> None:
        """Write a batch atomically; :class:`SeqConflict` writes none of it.

        A small batch of plain events is one multi-row ``INSERT`` (its own transaction: one
        call into SQLite, which matters because each call hands the GIL over); a larger one,
        one with ``update`` (the fields of :meth:`update_conversation`) or one with a title or
        session event, which this method writes into the header, is an IMMEDIATE transaction.
        The status needs no write: readers take it from the log (``_schema.py``, v3). The
        seq check reads the last seq first, unless this store wrote that conversation's
        previous batch itself; a racing writer then still hits the primary key.
        """
        if not events:
            return
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for event in events:  # order within the batch first: no database needed
            previous = last.get(event.conversation_id)
            if previous is not None and event.seq <= previous:
                raise SeqConflict(
                    f"seq {event.seq} follows seq {previous} in the same batch",
                    conversation_id=event.conversation_id,
                    seq=event.seq,
                    last_seq=previous,
                )
            last[event.conversation_id] = event.seq
            first.setdefault(event.conversation_id, event.seq)
        nbytes = sum(len(event.data) for event in events)
        header = [event for event in events if event.kind in HEADER_KINDS]
        if update is None and not header and len(events) <= CHUNK:
            with self._db() as conn:
                self._check_first(conn, first)
                self._insert(conn, events, events)
            if self._checkpointer is not None:
                self._checkpointer.wrote(nbytes)
        else:
            with self._write(nbytes) as conn:
                self._check_first(conn, first)
                for start in range(0, len(events), CHUNK):
                    self._insert(conn, events, events[start : start + CHUNK])
                for conversation_id, changes in header_changes(header).items():
                    apply_update(conn, conversation_id, changes, newer=True)
                if update:
                    apply_update(conn, events[0].conversation_id, update_fields(**update))
        self._last_seq.update(last)

    def _check_first(self, conn: sqlite3.Connection, first: Mapping[str, int]) -> None:
        """Each conversation's first seq of a batch must be above its last stored seq."""
        known = self._last_seq
        for conversation_id, seq in first.items():
            if seq > known.get(conversation_id, seq):
                continue
            exists, stored = conn.execute(
                "SELECT (SELECT 1 FROM conversations WHERE id = ?),"
                " (SELECT max(seq) FROM events WHERE conversation_id = ?)",
                (conversation_id, conversation_id),
            ).fetchone()
            if not exists:
                raise ConversationNotFound(f"no conversation {conversation_id!r}")
            if seq <= (stored or 0):
                raise SeqConflict(
                    f"seq {seq} is not above the last stored seq {stored or 0}"
                    f" of conversation {conversation_id!r}",
                    conversation_id=conversation_id,
                    seq=seq,
                    last_seq=stored or 0,
                )

    def _insert(
        self, conn: sqlite3.Connection, events: Sequence[EventRecord], rows: Sequence[EventRecord]
    ) -> None:
        """Insert ``rows`` (at most ``CHUNK`` of the batch ``events``) in one statement."""
        params = [v for e in rows for v in (e.conversation_id, e.seq, e.id, e.kind, e.ts, e.data)]
        try:
            conn.execute(insert_rows(len(rows)), params)
        except sqlite3.IntegrityError as exc:
            conversation_id, seq = events[0].conversation_id, events[0].seq
            self._last_seq.pop(conversation_id, None)
            if "FOREIGN KEY" in str(exc):
                raise ConversationNotFound(f"no conversation {conversation_id!r}") from exc
            raise SeqConflict(
                f"seq {seq} of conversation {conversation_id!r} was already stored",
                conversation_id=conversation_id,
                seq=seq,
                last_seq=seq,
            ) from exc

    def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events with ``seq > after_seq``, ordered by seq, at most ``limit`` of them."""
        if kinds is not None and not kinds:
            return []
        sql, params = event_query(conversation_id, after_seq, kinds, limit)
        with self._db() as conn:
            return [EventRecord(*row) for row in conn.execute(sql, params)]

    def iter_events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
        page_size: int = _PAGE_SIZE,
    ) -> Iterator[EventRecord]:
        """Like :meth:`events`, a page at a time.

        The lock is not held between pages, so a slow consumer never blocks writers and may
        itself call the store; events appended meanwhile are picked up by later pages.
        """
        remaining = limit
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            page = self.events(conversation_id, after_seq=after_seq, kinds=kinds, limit=size)
            yield from page
            if len(page) < size:
                return
            after_seq = page[-1].seq
            if remaining is not None:
                remaining -= len(page)

    def get_event(self, conversation_id: str, seq: int) -> EventRecord | None:
        """One stored event by its ``seq``, or ``None``."""
        with self._db() as conn:
            row = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = ? AND seq = ?",
                (conversation_id, seq),
            ).fetchone()
        return None if row is None else EventRecord(*row)

    def last_seq(self, conversation_id: str) -> int:
        """The highest stored seq, 0 when there is none (an index seek, not a scan)."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT max(seq) FROM events WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return int(row[0] or 0)

    def data_version(self) -> int:
        """A number that changes when another connection commits to the file (another
        process, or another store on it); this store's own commits leave it as it is. Cheap
        (``PRAGMA data_version``): a reader polls it to notice what others wrote."""
        with self._db() as conn:
            version: int = conn.execute("PRAGMA data_version").fetchone()[0]
        return version

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; idempotent. Later calls raise :class:`StoreError`."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<{type(self).__name__} {self.path!r} {state}>"
