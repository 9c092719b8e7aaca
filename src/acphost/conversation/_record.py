"""A conversation's stored record: what a new conversation stores about itself, and what
``Conversation.resume`` reads back to rebuild one (its options, its log, its unrun messages)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from acphost.acp.client import SystemPromptMode
from acphost.conversation._inputs import AgentSpec, StoreSpec, open_store
from acphost.errors import UsageError
from acphost.events import Event, TurnStartedEvent, UserMessageEvent, parse_event
from acphost.store import ConversationRecord, EventStore, Owner

if TYPE_CHECKING:
    from acphost.conversation._conversation import Conversation

__all__ = ["Resumed", "new_record", "resume_arguments", "unrun_messages"]

Resumed = tuple[ConversationRecord, list[Event]]
"""A stored conversation to rebuild: its record and its folded log."""


def new_record(
    conv: Conversation,
    *,
    title: str | None,
    permission: object,
    elicitation: object,
    max_cost: float | None,
    system_prompt: str | None,
    system_prompt_mode: SystemPromptMode,
) -> ConversationRecord:
    """The record of a new conversation, from its constructor's options: with what a resume
    needs to host it again (its agent's name and spec, its workspace's roots)."""
    agent, roots = conv.agent, [str(r) for r in conv.workspace.roots]
    now = time.time()
    return ConversationRecord(
        id=conv.id,
        agent=agent.name,
        workspace=roots[0],
        title=title,
        status="idle",
        created_at=now,
        updated_at=now,
        metadata={
            "agent": agent.spec(),
            "additional_directories": roots[1:],
            "permission": _named(permission),
            # given (else it follows the permission policy, also when resumed)
            **({} if elicitation is None else {"elicitation": _named(elicitation)}),
            "max_cost": max_cost,
            **(
                {"system_prompt": system_prompt, "system_prompt_mode": system_prompt_mode}
                if system_prompt
                else {}
            ),
        },
    )


def _named(policy: object) -> str:
    """A policy as stored: its name, or ``callback`` (a resumed conversation cannot call it)."""
    return policy if isinstance(policy, str) else "callback"


def resume_arguments(
    id: str, store: StoreSpec, agent: AgentSpec | None, options: dict[str, Any]
) -> tuple[AgentSpec, str, EventStore, Resumed]:
    """Read a stored conversation back: the agent and workspace to host it with, its store,
    its record and log; ``options`` (the constructor's) get the stored ones as defaults."""
    opened = open_store(store)
    record = opened.get_conversation(id)
    if record is None:
        raise UsageError(f"no conversation {id!r} in the store", hint="list conversations")
    owner = record.owner
    if record.status == "running" and owner is not None and owner != Owner.current():
        raise UsageError(
            f"conversation {id!r} is running a turn in process {owner.pid} on {owner.host}",
            hint="wait until its turn ends, or stop that process",
        )
    events = [parse_event(r.data) for r in opened.iter_events(id)]
    spec = record.metadata.get("agent") or {}
    if agent is None:
        agent = spec.get("name") if spec.get("type") == "registry" else spec.get("command")
        if not agent:
            raise UsageError(
                f"conversation {id!r} was hosted with a Python agent",
                hint="pass agent= to Conversation.resume",
            )
    options.setdefault("permission", record.metadata.get("permission", "deny"))
    options.setdefault("max_cost", record.metadata.get("max_cost"))
    if options["permission"] == "callback":
        options["permission"] = "deny"
    if record.metadata.get("elicitation") in ("ask", "decline"):  # a callback: as permission says
        options.setdefault("elicitation", record.metadata["elicitation"])
    options.setdefault("additional_directories", record.metadata.get("additional_directories", ()))
    for name in ("system_prompt", "system_prompt_mode"):  # for every session it opens
        if name in record.metadata:
            options.setdefault(name, record.metadata[name])
    return agent, record.workspace, opened, (record, events)


def unrun_messages(events: list[Event]) -> list[UserMessageEvent]:
    """Messages sent but never run (the host died first): the next ``run()`` runs them.

    A turn that had started is not run again: it may have had effects. ``events``: the
    stored log just folded (``state.events`` would read most of it back from the store).
    """
    started = {e.turn for e in events if isinstance(e, TurnStartedEvent)}
    return [e for e in events if isinstance(e, UserMessageEvent) and e.turn not in started]
