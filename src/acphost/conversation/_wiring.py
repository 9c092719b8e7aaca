"""Wiring a new conversation's parts from its constructor's options: the desks that hand the
agent's requests to the driver, the turn runner with the agent's context, the delivery.

Functions over a :class:`Conversation` being built, split out of its constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from acphost.acp.client import SystemPromptMode
from acphost.agents import AgentContext
from acphost.conversation._delivery import Delivery
from acphost.conversation._desk import PermissionDesk
from acphost.conversation._elicitation import ElicitationDesk, ElicitationPolicy, default_policy
from acphost.conversation._mailbox import Mailbox
from acphost.conversation._permission_clerk import FIXED_POLICIES, PermissionPolicy
from acphost.conversation._runner import TurnRunner, TurnSettings
from acphost.errors import UsageError
from acphost.events import Event

if TYPE_CHECKING:
    from acphost.conversation._conversation import Conversation

__all__ = ["asking_desks", "delivery", "turn_runner"]

ALLOWING = ("allow", "allow_once", "allow_always")
"""The permission policies that allow everything: the agent need not be in a mode that asks."""


def asking_desks(
    mailbox: Mailbox,
    permission: PermissionPolicy,
    permission_timeout: float | None,
    elicitation: ElicitationPolicy | None,
) -> tuple[PermissionDesk, ElicitationDesk, ElicitationPolicy]:
    """The desks that take the agent's permission requests and questions on the I/O loop,
    and the elicitation policy in force (by default it follows the permission policy)."""
    fixed = FIXED_POLICIES.get(permission) if isinstance(permission, str) else None
    desk = PermissionDesk(mailbox, fixed, permission_timeout)
    asking = default_policy(elicitation, permission)
    return desk, ElicitationDesk(mailbox, asking, desk.asking), asking


def turn_runner(
    conv: Conversation,
    settings: TurnSettings,
    permission: PermissionPolicy,
    system_prompt: str | None,
    mode: SystemPromptMode,
) -> TurnRunner:
    """The runner of the conversation's turns, with what its agent gets from the conversation:
    where to post, whom to ask, its system prompt. Unless ``permission`` allows everything,
    the runner selects the agent's mode that asks (``want_asks``): the policy decides."""
    if mode not in ("append", "override"):
        raise UsageError(f"system_prompt_mode must be 'append' or 'override', not {mode!r}")
    ctx = AgentContext(
        workspace=conv.workspace,
        post=conv._mailbox.put_soon,
        request_permission=conv._desk.ask,
        request_elicitation=conv._elicitations.ask,
        system_prompt=[{"type": "text", "text": system_prompt}] if system_prompt else None,
        system_prompt_mode=mode,
    )
    conv._desk.cancelled = conv._elicitations.cancelled = lambda: ctx.cancelled
    return TurnRunner(
        conv.agent,
        ctx,
        conv._mailbox,
        dataclasses.replace(settings, want_asks=permission not in ALLOWING),
        asking=conv._desk.asking,
        cancel_asks=conv._elicitations.cancel_all,
    )


def delivery(
    conv: Conversation,
    asking: ElicitationPolicy,
    *,
    callbacks: Sequence[Callable[[Event], object]],
    on_token: Callable[[str], object] | None,
    on_thought: Callable[[str], object] | None,
    permission: PermissionPolicy,
    permission_timeout: float | None,
    max_cost: float | None,
) -> Delivery:
    """What turns the agent's messages into stored events and calls the user's callbacks;
    it shares the requests waiting for the user with the desks."""
    made = Delivery(
        conv.state,
        conv.store,
        callbacks=list(callbacks),
        on_token=on_token,
        on_thought=on_thought,
        permission=permission,
        asks=conv._desk.asks,
        ask_timeout=permission_timeout,
        max_cost=max_cost,
        elicitation=asking,
        elicitation_asks=conv._elicitations.asks,
    )
    made.permissions.settle = conv._desk.settle  # how an async callback answers
    made.elicitations.settle = conv._elicitations.settle
    return made
