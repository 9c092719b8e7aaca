"""SQLiteStore against real files: conversations, event logs, atomicity, threads, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import orjson
import pytest

from acphost.errors import AcphostError
from acphost.store import (
    ConversationExists,
    ConversationNotFound,
    ConversationRecord,
    EventRecord,
    EventStore,
    Owner,
    SeqConflict,
    SQLiteStore,
    StoreError,
    default_store_path,
)
from acphost.store._schema import _MIGRATIONS
from acphost.store._sql import CONV_COLUMNS, insert_rows
from acphost.store._sqlite import SCHEMA_VERSION

SRC = Path(__file__).resolve().parents[1] / "src"


def conv(id: str, *, updated_at: float = 1.0, **fields: object) -> ConversationRecord:
    values: dict[str, object] = {
        "agent": "claude",
        "workspace": "/w",
        "title": None,
        "status": "idle",
        "created_at": 1.0,
        "updated_at": updated_at,
    }
    values.update(fields)
    return ConversationRecord(id=id, **values)  # type: ignore[arg-type]


def ev(
    conversation_id: str, seq: int, kind: str = "message", data: bytes | None = None
) -> EventRecord:
    payload = data if data is not None else f'{{"n":{seq}}}'.encode()
    return EventRecord(conversation_id, seq, f"e{seq}", kind, 100.0 + seq, payload)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "acphost.db"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(db) as s:
        yield s


def test_protocol_pragmas_and_schema(store: SQLiteStore, db: Path) -> None:
    assert isinstance(store, EventStore)
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        sql = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        assert "PRIMARY KEY (conversation_id, seq)" in sql
        assert "WITHOUT ROWID" in sql
    finally:
        raw.close()


def test_newer_schema_is_refused(db: Path) -> None:
    SQLiteStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(db)


def test_invalid_synchronous(db: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(db, synchronous="OFF")  # type: ignore[arg-type]
    with SQLiteStore(db, synchronous="FULL") as full:
        full.create_conversation(conv("c"))
        assert full.get_conversation("c") is not None


def test_create_get_update(store: SQLiteStore) -> None:
    record = conv("c1", title="Fix bug", session_id="s", metadata={"usage": {"tokens": 3}})
    store.create_conversation(record)
    assert store.get_conversation("c1") == record
    assert store.get_conversation("nope") is None
    with pytest.raises(ConversationExists):
        store.create_conversation(conv("c1"))

    store.update_conversation("c1", status="running", updated_at=5.0)
    got = store.get_conversation("c1")
    assert got is not None
    assert (got.status, got.updated_at, got.title, got.session_id) == (
        "running",
        5.0,
        "Fix bug",
        "s",
    )
    assert got.metadata == {"usage": {"tokens": 3}}

    store.update_conversation("c1", title=None, session_id=None, metadata={"k": [1, "x"]})
    got = store.get_conversation("c1")
    assert got is not None
    assert (got.title, got.session_id, got.metadata, got.status) == (
        None,
        None,
        {"k": [1, "x"]},
        "running",
    )

    store.update_conversation("c1")  # nothing given: nothing changes, no error
    assert store.get_conversation("c1") == got
    with pytest.raises(ConversationNotFound):
        store.update_conversation("nope", status="x")
    with pytest.raises(ConversationNotFound):
        store.update_conversation("nope")


def test_list_filters_search_paging_count(store: SQLiteStore) -> None:
    store.create_conversation(conv("alpha-1", updated_at=3, title="Refactor Parser"))
    store.create_conversation(conv("beta-2", updated_at=1, agent="codex", status="done"))
    store.create_conversation(conv("gamma-3", updated_at=2, title="100%_done", status="done"))
    store.create_conversation(conv("delta-4", updated_at=2))  # tie with gamma: newer row first

    def ids(**filters: object) -> list[str]:
        return [c.id for c in store.list_conversations(**filters)]  # type: ignore[arg-type]

    assert ids() == ["alpha-1", "delta-4", "gamma-3", "beta-2"]
    assert ids(status="done") == ["gamma-3", "beta-2"]
    assert ids(agent="codex") == ["beta-2"]
    assert ids(agent="claude", status="done") == ["gamma-3"]
    assert ids(search="parser") == ["alpha-1"]  # title, case-insensitive
    assert ids(search="BETA") == ["beta-2"]  # id
    assert ids(search="%_") == ["gamma-3"]  # literal, not a LIKE pattern
    assert ids(search="zzz") == []
    assert ids(limit=2) == ["alpha-1", "delta-4"]
    assert ids(limit=2, offset=2) == ["gamma-3", "beta-2"]
    assert ids(limit=2, offset=4) == []
    assert store.count_conversations() == 4
    assert store.count_conversations(status="done") == 2
    assert store.count_conversations(agent="claude", search="L") == 2  # alpha-1, delta-4
    assert store.count_conversations(search="nothing") == 0


def test_append_and_read_back(store: SQLiteStore) -> None:
    store.create_conversation(conv("c"))
    store.create_conversation(conv("other"))
    assert store.last_seq("c") == 0
    assert store.events("c") == []
    kinds = ["message", "tool", "message", "usage", "message"]
    batch = [ev("c", i + 1, kind) for i, kind in enumerate(kinds)]
    store.append(batch[:2])
    store.append([*batch[2:], ev("other", 1)])  # one batch, two conversations
    store.append([])
    assert store.events("c") == batch
    assert store.last_seq("c") == 5
    assert store.last_seq("other") == 1
    assert store.last_seq("missing") == 0
    assert store.events("c", after_seq=3) == batch[3:]
    assert [e.seq for e in store.events("c", kinds={"message"})] == [1, 3, 5]
    assert [e.seq for e in store.events("c", kinds=["message", "usage"], after_seq=1)] == [3, 4, 5]
    assert store.events("c", kinds=()) == []
    assert [e.seq for e in store.events("c", limit=2, after_seq=1)] == [2, 3]
    assert store.get_event("c", 4) == batch[3]
    assert store.get_event("c", 9) is None
    assert store.get_event("other", 1) == ev("other", 1)


def test_iter_events_pages(store: SQLiteStore) -> None:
    store.create_conversation(conv("c"))
    store.append([ev("c", i, "a" if i % 3 else "b") for i in range(1, 1001)])
    it = store.iter_events("c", page_size=64)
    assert [e.seq for e in it] == list(range(1, 1001))
    assert [e.seq for e in store.iter_events("c", after_seq=990, page_size=3)] == list(
        range(991, 1001)
    )
    limited = store.iter_events("c", kinds=["b"], limit=10, page_size=4)
    assert [e.seq for e in limited] == [3 * k for k in range(1, 11)]
    # The lock is not held between pages: the consumer can write while iterating.
    for event in store.iter_events("c", after_seq=995, page_size=2):
        if event.seq == 1000:
            store.append([ev("c", 1001)])
    assert store.last_seq("c") == 1001


def test_seq_conflicts_write_nothing(store: SQLiteStore) -> None:
    store.create_conversation(conv("c"))
    store.create_conversation(conv("d"))
    store.append([ev("c", 1), ev("c", 2)])
    before = store.events("c")
    bad_batches = [
        [ev("d", 1), ev("c", 3), ev("c", 2)],  # duplicate stored seq, after good events
        [ev("d", 1), ev("c", 4), ev("c", 4)],  # duplicate within the batch
        [ev("d", 1), ev("c", 5), ev("c", 4)],  # not increasing within the batch
        [ev("d", 1), ev("c", 2, data=b"{}")],  # duplicate of a stored seq
        [ev("d", 1), ev("c", 0)],  # not above last_seq=0 style
    ]
    for batch in bad_batches:
        with pytest.raises(SeqConflict) as info:
            store.append(batch)
        assert info.value.conversation_id == "c"
        assert isinstance(info.value, AcphostError)
        assert info.value.to_dict()["code"] == "event_seq_conflict"
        assert store.events("c") == before
        assert store.last_seq("d") == 0
    with pytest.raises(ConversationNotFound):
        store.append([ev("d", 1), ev("ghost", 1)])
    assert store.last_seq("d") == 0
    store.append([ev("c", 7)])  # gaps are allowed; only order matters
    assert store.last_seq("c") == 7


def test_delete_cascades(store: SQLiteStore, db: Path) -> None:
    store.create_conversation(conv("c"))
    store.create_conversation(conv("keep"))
    store.append([ev("c", 1), ev("c", 2), ev("keep", 1)])
    assert store.delete_conversation("c") is True
    assert store.delete_conversation("c") is False
    assert store.get_conversation("c") is None
    assert store.events("c") == []
    assert store.last_seq("c") == 0
    assert store.events("keep") == [ev("keep", 1)]
    raw = sqlite3.connect(db)
    try:
        assert raw.execute(
            "SELECT count(*) FROM events WHERE conversation_id = 'c'"
        ).fetchone() == (0,)
    finally:
        raw.close()
    store.create_conversation(conv("c"))  # the id can be reused with a fresh log
    store.append([ev("c", 1)])


def test_reopen_sees_everything(db: Path) -> None:
    records = [conv(f"c{i}", updated_at=i, metadata={"i": i}) for i in range(3)]
    with SQLiteStore(db) as first:
        for record in records:
            first.create_conversation(record)
            first.append([ev(record.id, s) for s in range(1, 11)])
        first.update_conversation("c1", title="kept")
    records[1].title = "kept"
    with SQLiteStore(os.fspath(db)) as second:
        assert second.list_conversations() == records[::-1]
        for record in records:
            assert second.events(record.id) == [ev(record.id, s) for s in range(1, 11)]


def test_two_instances_share_a_file(db: Path) -> None:
    with SQLiteStore(db) as a, SQLiteStore(db) as b:
        a.create_conversation(conv("c"))
        b.append([ev("c", 1)])
        a.append([ev("c", 2)])
        with pytest.raises(SeqConflict):
            b.append([ev("c", 2)])
        assert b.events("c") == a.events("c") == [ev("c", 1), ev("c", 2)]


def test_closed_store_raises(db: Path) -> None:
    store = SQLiteStore(db)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.last_seq("c")


def test_memory_store() -> None:
    with SQLiteStore(":memory:") as store:
        store.create_conversation(conv("c"))
        store.append([ev("c", 1)])
        assert store.events("c") == [ev("c", 1)]


def test_concurrent_appends_from_threads(store: SQLiteStore, db: Path) -> None:
    n_threads, batches, per_batch = 8, 50, 5
    errors: list[BaseException] = []
    other = SQLiteStore(db)  # half the threads write through a second connection

    def writer(index: int) -> None:
        target = store if index % 2 else other
        cid = f"c{index}"
        try:
            for b in range(batches):
                target.append([ev(cid, b * per_batch + k + 1) for k in range(per_batch)])
        except BaseException as exc:
            errors.append(exc)

    try:
        for i in range(n_threads):
            store.create_conversation(conv(f"c{i}"))
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
    finally:
        other.close()
    assert errors == []
    for i in range(n_threads):
        seqs = [e.seq for e in store.events(f"c{i}")]
        assert seqs == list(range(1, batches * per_batch + 1))


_CHILD = textwrap.dedent(
    """
    import sys
    from acphost.store import ConversationRecord, EventRecord, SQLiteStore
    store = SQLiteStore(sys.argv[1])
    store.create_conversation(ConversationRecord("c", "a", "/w", None, "running", 1.0, 1.0))
    seq = 0
    while True:
        batch = []
        for _ in range(7):
            seq += 1
            data = ('{"seq": %d, "pad": "%s"}' % (seq, "x" * (seq % 50))).encode()
            batch.append(EventRecord("c", seq, "e%d" % seq, "message", float(seq), data))
        store.append(batch)
        print(seq, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_committed_events_survive_sigkill(db: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    committed = 0
    deadline = time.monotonic() + 30
    try:
        while committed < 20_000 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            committed = int(line)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is appending the next batch
        rest = child.stdout.read()  # anything printed before the kill was committed too
        committed = max([committed, *(int(x) for x in rest.split())])
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert committed >= 20_000, "child did not get going"
    with SQLiteStore(db) as store:
        last = store.last_seq("c")
        assert last >= committed
        assert last % 7 == 0  # batches are atomic: never a partial one
        events = store.events("c")
        assert [e.seq for e in events] == list(range(1, last + 1))
        for e in events:
            pad = "x" * (e.seq % 50)
            assert e.data == f'{{"seq": {e.seq}, "pad": "{pad}"}}'.encode()
            assert (e.id, e.kind, e.ts) == (f"e{e.seq}", "message", float(e.seq))


def test_default_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACPHOST_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "acphost.db"
    assert (tmp_path / "home").is_dir()
    monkeypatch.delenv("ACPHOST_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "acphost" / "acphost.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_store_path() == tmp_path / "user" / ".local" / "share" / "acphost" / "acphost.db"
    assert (tmp_path / "user" / ".local" / "share" / "acphost").is_dir()


def test_append_updates_the_header_in_the_same_transaction(db: Path) -> None:
    with SQLiteStore(db) as store:
        store.create_conversation(conv("c1"))
        store.append([ev("c1", 1), ev("c1", 2)], update={"status": "running", "title": "T"})
        record = store.get_conversation("c1")
        assert record is not None
        assert (record.status, record.title) == ("running", "T")
        with pytest.raises(ConversationNotFound):
            store.append([ev("nope", 1)], update={"status": "idle"})


def test_a_racing_writer_still_hits_the_seq_check(db: Path) -> None:
    with SQLiteStore(db) as first, SQLiteStore(db) as second:
        first.create_conversation(conv("c1"))
        first.append([ev("c1", 1), ev("c1", 2)])  # `first` now knows its last seq
        second.append([ev("c1", 3)])
        with pytest.raises(SeqConflict):
            first.append([ev("c1", 3)])
        first.append([ev("c1", 4)])  # after the conflict it reads the database again
        assert [e.seq for e in second.events("c1")] == [1, 2, 3, 4]


def test_checkpoints_run_off_the_writer_and_keep_the_wal_bounded(db: Path) -> None:
    with SQLiteStore(db) as store:
        store.create_conversation(conv("c"))
        assert store._conn is not None
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = db.stat().st_size
        blob = b"x" * 4000
        for seq in range(1, 1001):  # ~4 MB: a few checkpoints' worth
            store.append([ev("c", seq, data=blob)])
        checkpointer = store._checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 20
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints >= 1
        # only a checkpoint writes the database file itself: the events reached it
        assert db.stat().st_size > before + (1 << 20)
        assert len(store.events("c")) == 1000
    assert checkpointer._thread is not None
    assert not checkpointer._thread.is_alive()  # close() stopped it


def test_a_memory_store_has_no_checkpointer() -> None:
    with SQLiteStore(":memory:") as store:
        assert store._checkpointer is None


def header_event(seq: int, kind: str, **data: object) -> EventRecord:
    return EventRecord("c", seq, f"e{seq}", kind, 200.0 + seq, orjson.dumps(data))


@pytest.mark.parametrize("batch", [1, 40], ids=["one statement", "a transaction"])
def test_the_header_follows_the_events_that_change_it(db: Path, batch: int) -> None:
    events = [
        header_event(1, "session_started", session_id="s1"),
        header_event(2, "status_changed", status="running", previous="idle"),
        header_event(3, "session_info", title="Fixing the bug"),
        header_event(4, "session_info", title=None),  # no title: the last one stays
        header_event(5, "status_changed", status="idle", previous="running"),
    ]
    events += [ev("c", seq) for seq in range(6, 6 + batch - 1)]
    with SQLiteStore(db) as store:
        store.create_conversation(conv("c", title="given"))
        store.append(events)
        record = store.get_conversation("c")
    assert record is not None
    assert (record.status, record.title, record.session_id) == ("idle", "Fixing the bug", "s1")
    assert record.updated_at == 205.0  # the last event that changed it


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_is_migrated_with_its_header_intact(db: Path, version: int) -> None:
    raw = sqlite3.connect(db, isolation_level=None)
    for step in _MIGRATIONS[:version]:  # the schema as that acphost left it
        step(raw)
    raw.execute(f"PRAGMA user_version = {version}")
    raw.execute(
        f"INSERT INTO conversations ({CONV_COLUMNS}) VALUES"
        " ('c', 'a', '/w', 'Old', 'idle', 1.0, 150.0, 's0', '{}')"
    )
    status_events = [
        header_event(1, "status_changed", status="running", previous="idle"),
        header_event(2, "status_changed", status="idle", previous="running"),
    ]
    raw.executemany(insert_rows(1), [astuple(e) for e in status_events])
    raw.close()
    with SQLiteStore(db) as store:
        record = store.get_conversation("c")
        assert record is not None
        # v1 wrote the header itself (150.0); v2's triggers took it from the last status event
        assert (record.status, record.updated_at) == ("idle", 150.0 if version == 1 else 202.0)
        store.append([header_event(3, "status_changed", status="running", previous="idle")])
        record = store.get_conversation("c")
        assert record is not None
        assert (record.status, record.updated_at, record.title) == ("running", 203.0, "Old")
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_the_status_comes_from_the_log_and_explicit_updates_stand_until_the_next_event(
    store: SQLiteStore,
) -> None:
    store.create_conversation(conv("c"))
    store.append([header_event(1, "status_changed", status="running", previous="idle")])
    store.update_conversation("c", title="Renamed")  # keeps the status the log gave
    record = store.get_conversation("c")
    assert record is not None
    assert (record.status, record.title, record.updated_at) == ("running", "Renamed", 201.0)
    store.update_conversation("c", status="failed", updated_at=5.0)  # stands over older events
    assert [(r.status, r.updated_at) for r in store.list_conversations()] == [("failed", 5.0)]
    assert store.count_conversations(status="failed") == 1
    store.append([header_event(2, "status_changed", status="idle", previous="failed")])
    assert [(r.status, r.updated_at) for r in store.list_conversations()] == [("idle", 202.0)]
    assert store.count_conversations(status="failed") == 0


def test_reading_a_status_walks_the_log_back_from_its_end(store: SQLiteStore) -> None:
    with store._db() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT status FROM conversation_heads WHERE id = 'c'"
            )
        )
    assert "SEARCH s USING PRIMARY KEY (conversation_id=? AND seq>?)" in plan
    assert "SCAN" not in plan


def test_a_small_batch_with_a_seq_conflict_writes_nothing(store: SQLiteStore) -> None:
    store.create_conversation(conv("c"))
    with SQLiteStore(store.path) as other:
        other.append([ev("c", 1)])  # `other` now believes seq 1 is the last
        store.append([ev("c", 2), ev("c", 3)])
        with pytest.raises(SeqConflict):  # one INSERT: its seq 3 hits the key, seq 4 is undone
            other.append([ev("c", 3), ev("c", 4)])
    assert [e.seq for e in store.events("c")] == [1, 2, 3]


def test_a_batch_of_many_statements_with_a_seq_conflict_writes_nothing(
    store: SQLiteStore,
) -> None:
    store.create_conversation(conv("c"))
    with SQLiteStore(store.path) as other:
        other.append([ev("c", 1)])  # `other` now believes seq 1 is the last
        store.append([ev("c", 150)])
        with pytest.raises(SeqConflict):  # the third INSERT hits seq 150: all three undone
            other.append([ev("c", seq) for seq in range(2, 302)])
    assert [e.seq for e in store.events("c")] == [1, 150]
    store.append([ev("c", seq) for seq in range(151, 451)])  # five statements, one commit
    assert [e.seq for e in store.events("c", after_seq=150)] == list(range(151, 451))


def exited_owner() -> Owner:
    """The owner record of a process that ran and exited (and was reaped)."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dataclasses, json; from acphost.store import Owner;"
            " print(json.dumps(dataclasses.asdict(Owner.current())))",
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return Owner(**orjson.loads(child.stdout))


def running_turn(store: SQLiteStore, id: str, owner: Owner | None) -> None:
    store.create_conversation(conv(id))
    if owner is not None:
        store.set_owner(id, owner)
    store.append([EventRecord(id, 1, "e1", "status_changed", 201.0, b'{"status":"running"}')])


def test_a_running_turn_whose_owner_is_gone_reads_paused(store: SQLiteStore) -> None:
    me = Owner.current()
    assert not me.gone()
    dead = exited_owner()
    assert dead.host == me.host
    assert dead.gone()
    reused = Owner(me.host, me.pid, "another boot:123")  # the pid now runs another process
    assert reused.gone()
    elsewhere = Owner("another-host", 1, None)  # cannot be checked from here
    assert not elsewhere.gone()
    for id, owner in [("dead", dead), ("reused", reused), ("mine", me), ("far", elsewhere)]:
        running_turn(store, id, owner)
    running_turn(store, "unowned", None)  # written without an owner: taken at its word

    statuses = {r.id: r.status for r in store.list_conversations()}
    assert statuses == {
        "dead": "paused",
        "reused": "paused",
        "mine": "running",
        "far": "running",
        "unowned": "running",
    }
    running = store.list_conversations(status="running")
    assert sorted(r.id for r in running) == ["far", "mine", "unowned"]
    assert store.count_conversations(status="running") == 3
    assert store.count_conversations(status="paused") == 2
    record = store.get_conversation("dead")
    assert record is not None
    assert (record.status, record.owner) == ("paused", dead)
    assert sorted(store.dangling_turns()) == ["dead", "reused"]
    with pytest.raises(ConversationNotFound):
        store.set_owner("nope", me)


def test_a_turn_running_when_the_database_is_upgraded_has_a_gone_owner(db: Path) -> None:
    raw = sqlite3.connect(db, isolation_level=None)
    for step in _MIGRATIONS[:3]:  # owners came with v4
        step(raw)
    raw.execute("PRAGMA user_version = 3")
    for id in ("left-running", "idle"):
        raw.execute(
            f"INSERT INTO conversations ({CONV_COLUMNS}) VALUES"
            f" ('{id}', 'a', '/w', NULL, 'idle', 1.0, 1.0, NULL, '{{}}')"
        )
    raw.execute(
        insert_rows(1),
        ("left-running", 1, "e1", "status_changed", 201.0, b'{"status":"running"}'),
    )
    raw.close()
    with SQLiteStore(db) as store:
        assert store.dangling_turns() == ["left-running"]
        assert {r.id: r.status for r in store.list_conversations()} == {
            "left-running": "paused",
            "idle": "idle",
        }
