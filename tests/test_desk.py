"""The permission desk: a cancel never overrides an answer the user already gave."""

from __future__ import annotations

import asyncio

import pytest

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.conversation._desk import PermissionDesk
from acphost.conversation._items import PermissionAnswer, PermissionAsk
from acphost.conversation._mailbox import Mailbox
from acphost.errors import UsageError

PARAMS = {
    "sessionId": "s1",
    "toolCall": {"toolCallId": "t1", "title": "Edit a file"},
    "options": [
        {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
        {"optionId": "no", "name": "Reject", "kind": "reject_once"},
    ],
}


def ask_one() -> tuple[PermissionDesk, Mailbox, PermissionAsk, asyncio.Future[Decision]]:
    mailbox = Mailbox()
    desk = PermissionDesk(mailbox, None)
    pending = desk.ask(PermissionRequest.from_params(PARAMS, 7))
    (ask,) = mailbox.drain()
    assert isinstance(ask, PermissionAsk)
    return desk, mailbox, ask, pending


def test_cancel_before_anyone_answered_cancels_the_decision() -> None:
    async def main() -> None:
        _, mailbox, ask, pending = ask_one()
        assert pending.cancel()
        assert ask.future.cancelled()
        assert mailbox.drain() == [PermissionAnswer(ask.key, "cancelled", "cancel")]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_cancel_after_the_user_claimed_the_request_gives_the_agent_that_answer() -> None:
    async def main() -> None:
        _, _, ask, pending = ask_one()
        assert ask.future.set_running_or_notify_cancel()  # the user's answer claims it...
        assert not pending.cancel()  # ...so the turn's cancel cannot take it back
        ask.future.set_result("allow_once")
        assert await asyncio.wait_for(pending, 5) == "allow_once"

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_users_answer_reaches_the_agent() -> None:
    async def main() -> None:
        desk, mailbox, ask, pending = ask_one()
        await asyncio.to_thread(desk.answer, ask.key, "reject_once")
        assert await asyncio.wait_for(pending, 5) == "reject_once"
        assert mailbox.drain() == [PermissionAnswer(ask.key, "reject_once", "user")]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_fixed_policy_answers_at_once_and_the_driver_records_it_in_order() -> None:
    async def main() -> None:
        mailbox = Mailbox()
        desk = PermissionDesk(mailbox, "allow_once")
        first = desk.ask(PermissionRequest.from_params(PARAMS, 1))
        second = desk.ask(PermissionRequest.from_params(PARAMS, 1))  # the same id again
        assert (first.result(), second.result()) == ("allow_once", "allow_once")
        items = mailbox.drain()
        assert [type(item) for item in items] == [PermissionAsk, PermissionAnswer] * 2
        asks = [item for item in items if isinstance(item, PermissionAsk)]
        assert [a.key for a in asks] == ["1", "1#1"]
        assert all(a.future.done() and not a.future.cancel() for a in asks)
        with pytest.raises(UsageError):  # nothing left for a user to answer
            desk.answer("1", "reject_once")

    asyncio.run(asyncio.wait_for(main(), 10))
