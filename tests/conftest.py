"""Shared fixtures: every test gets a workspace and bounded waits."""

from __future__ import annotations

import faulthandler
import itertools
import os
import pty
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.conversation import Conversation, ConversationState
from acphost.events import Event, StatusChangedEvent, TurnEndedEvent, TurnStartedEvent, parse_event
from acphost.testing import Scenario, fake_agent_command


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# Demo project\nline two\nline three\n")
    return root


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A SQLite event store file of this test."""
    return tmp_path / "acphost.db"


@pytest.fixture
def fake_agent(tmp_path: Path) -> Callable[..., list[str]]:
    """The argv of a fake ACP agent (a real subprocess) on a scenario.

    ``fake_agent(Scenario(...))`` runs a scenario document; ``fake_agent(source=...)`` writes
    the Python scenario source (an ``async def scenario(ctx, prompt)``) to a file of this test
    and runs it, with ``settings`` (``ignore_cancel=True``...) as scenario settings.
    """
    numbers = itertools.count(1)

    def make(
        scenario: Scenario | None = None,
        *,
        source: str | None = None,
        function: str = "scenario",
        state_dir: Path | None = None,
        **settings: Any,
    ) -> list[str]:
        if source is not None:
            path = tmp_path / f"scenario_{next(numbers)}.py"
            path.write_text(textwrap.dedent(source))
            scenario = Scenario(path.stem, python=f"{path}:{function}", **settings)
        assert scenario is not None, "give a Scenario or Python source"
        return fake_agent_command(scenario, directory=tmp_path, state_dir=state_dir)

    return make


@pytest.fixture
def conversations(workspace: Path, store_path: Path) -> Iterator[Callable[..., Conversation]]:
    """Make conversations (store in tmp_path, workspace fixture); all closed at teardown."""
    made: list[Conversation] = []

    def make(agent: Any, **options: Any) -> Conversation:
        options.setdefault("store", store_path)
        conversation = Conversation(agent, workspace, **options)
        made.append(conversation)
        return conversation

    yield make
    for conversation in made:
        conversation.close()


@pytest.fixture
def bounded() -> Callable[..., Any]:
    """``bounded(fn, *args, timeout=30)``: call ``fn`` in a fresh thread, wait at most
    ``timeout`` seconds (a hang fails the test with every thread's stack), return its result
    or raise its exception."""

    def call(fn: Callable[..., Any], *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = fn(*args, **kwargs)
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name="bounded-caller", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            faulthandler.dump_traceback(all_threads=True)
            pytest.fail(f"{fn!r} did not return within {timeout} s (a deadlock?)")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    return call


_LEGAL_STATUS = {
    ("idle", "running"),
    ("idle", "paused"),
    ("idle", "finished"),
    ("running", "idle"),
    ("running", "paused"),
    ("running", "error"),
    ("running", "finished"),
    ("paused", "running"),
    ("paused", "finished"),
    ("error", "running"),
    ("error", "paused"),
    ("error", "finished"),
    ("finished", "running"),  # a closed conversation, resumed
}


@pytest.fixture
def check_log() -> Callable[[Conversation], list[Event]]:
    """``check_log(conversation)``: assert its event log is consistent and return it.

    Seqs are 1..n without gaps, the store holds exactly the in-memory log, every started turn
    ended exactly once (after it started), status changes chain and are legal, ``running``
    follows a turn start, and folding the stored log gives the live state.
    """

    def check(conversation: Conversation) -> list[Event]:
        with conversation.state:
            memory = list(conversation.state.events)
            live = conversation.state.snapshot()
        stored = [parse_event(r.data) for r in conversation.store.iter_events(conversation.id)]
        assert [e.seq for e in memory] == list(range(1, len(memory) + 1))
        assert [e.model_dump(mode="json") for e in stored] == [
            e.model_dump(mode="json") for e in memory
        ]
        started = Counter(e.turn for e in memory if isinstance(e, TurnStartedEvent))
        ended = Counter(e.turn for e in memory if isinstance(e, TurnEndedEvent))
        assert set(started.values()) <= {1}, f"a turn started twice: {started}"
        assert started == ended, f"started {started} but ended {ended}"
        status = "idle"
        open_turn: int | None = None
        previous: Event | None = None
        for event in memory:
            if isinstance(event, TurnStartedEvent):
                assert open_turn is None, f"turn {event.turn} started inside turn {open_turn}"
                open_turn = event.turn
            elif isinstance(event, TurnEndedEvent):
                assert event.turn == open_turn, f"turn {event.turn} ended, {open_turn} was open"
                open_turn = None
            elif isinstance(event, StatusChangedEvent):
                assert event.previous == status, f"seq {event.seq}: {event.previous} != {status}"
                assert (status, event.status) in _LEGAL_STATUS, (status, event.status)
                if event.status == "running":
                    assert isinstance(previous, TurnStartedEvent), f"seq {event.seq}"
                status = event.status
            previous = event
        assert status == live["status"]
        folded = ConversationState(conversation.id)
        for event in stored:
            folded.apply(event)
        assert folded.snapshot() == live
        return memory

    return check


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A pty: its slave end is a child's stdin that ``isatty()``, the master types into it."""
    master, slave = pty.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)
