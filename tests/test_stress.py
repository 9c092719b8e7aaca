"""Threading stress: many threads send, run, interrupt and answer permissions at random on
shared conversations, for a bounded time; then every log must be consistent and say exactly
what each agent was told (the fake agent writes down every answer it received)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.conversation import Conversation
from acphost.errors import UsageError
from acphost.events import (
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    TurnEndedEvent,
    UserMessageEvent,
)
from recording import assert_log_matches_agent, of, recording_agent, told

MakeConversation = Callable[..., Conversation]

CHAOS_S = 3.0
"""How long the threads act at random (the test's time bound is this plus bounded joins)."""

ASKING = """
import uuid

async def scenario(ctx, prompt):
    for step in range(2):
        tool_call_id = uuid.uuid4().hex
        await ctx.tool_call(tool_call_id, "Edit", kind="edit", status="pending")
        record(tool_call_id, await ctx.request_permission(tool_call_id, "Edit it?"))
        await ctx.text(f"step {step} of {prompt}")
    return "end_turn"
"""


@pytest.mark.timeout(120)
def test_threads_at_random_on_shared_conversations_log_what_the_agents_were_told(
    conversations: MakeConversation, fake_agent: Any, tmp_path: Path, check_log: Any
) -> None:
    decisions: tuple[Decision | bool, ...] = (
        "allow_once",
        "allow_always",
        "reject_once",
        "reject_always",
        True,
        False,
    )
    choices = random.Random(0)

    def callback_policy(request: PermissionRequest) -> Any:
        return choices.choice(decisions)

    policies: list[dict[str, Any]] = [
        {"permission": "ask", "permission_timeout": 0.5},
        {"permission": "ask", "permission_timeout": 0.5},
        {"permission": callback_policy},
        {"permission": "allow"},
    ]
    shared: list[Conversation] = []
    for index, options in enumerate(policies):
        directory = tmp_path / f"agent{index}"
        directory.mkdir()
        shared.append(conversations(recording_agent(fake_agent, directory, ASKING), **options))

    failures: list[BaseException] = []
    counts = dict.fromkeys(("send", "run", "interrupt", "answer", "pause", "deliver"), 0)
    deadline = time.monotonic() + CHAOS_S

    def answer_one(rng: random.Random, conversation: Conversation) -> None:
        with conversation.state:
            pending = list(conversation.state.pending_permissions)
        if not pending:
            return
        try:
            conversation.answer_permission(rng.choice(pending), rng.choice(decisions))
        except UsageError:
            return  # decided meanwhile (a cancel, the timeout, another thread): fine
        counts["answer"] += 1

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while time.monotonic() < deadline:
                conversation = rng.choice(shared)
                roll = rng.random()
                if roll < 0.2:
                    conversation.send_message(f"m{seed}")
                    counts["send"] += 1
                elif roll < 0.4:
                    conversation.run()
                    counts["run"] += 1
                elif roll < 0.5:
                    conversation.interrupt()
                    counts["interrupt"] += 1
                elif roll < 0.9:
                    answer_one(rng, conversation)
                elif roll < 0.93:
                    conversation.pause()
                    counts["pause"] += 1
                else:
                    conversation.deliver_pending()
                    counts["deliver"] += 1
                time.sleep(rng.random() * 0.005)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic() + 30))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads deadlocked: {stuck}"
    assert not failures, failures
    assert all(counts.values()), counts

    for index, conversation in enumerate(shared):
        finishing = threading.Thread(target=conversation.run, daemon=True)  # what is queued
        finishing.start()
        finishing.join(60)
        assert not finishing.is_alive(), f"conversation {index} did not finish its queue"
        conversation.close()
        events = check_log(conversation)
        asked = of(events, PermissionRequestedEvent)
        decided = of(events, PermissionDecidedEvent)
        assert asked, f"conversation {index} was never asked anything"
        assert sorted(d.request_id for d in decided) == sorted(a.request_id for a in asked)
        assert_log_matches_agent(events, told(tmp_path / f"agent{index}" / "told.jsonl"))
        ended = {e.turn for e in of(events, TurnEndedEvent)}
        assert {e.turn for e in of(events, UserMessageEvent)} == ended, "each message ran once"
