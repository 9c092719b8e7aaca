"""The events of what the agent asks the user (see :mod:`acphost.events`, which exports them):
permission requests and elicitations, their answers, and whether the agent can be made to ask."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from acphost._event_base import EventBase, Source

__all__ = [
    "ElicitationAnsweredEvent",
    "ElicitationCompletedEvent",
    "ElicitationRequestedEvent",
    "PermissionDecidedEvent",
    "PermissionModeEvent",
    "PermissionRequestedEvent",
]


class PermissionRequestedEvent(EventBase):
    """The agent asks permission for a tool call; answer with the request id and an option kind."""

    kind: Literal["permission_requested"] = "permission_requested"
    request_id: str
    tool_call_id: str
    title: str = ""
    options: list[dict[str, Any]] = Field(default_factory=list)
    tool_call: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = None
    """The subagent session that asks (see :class:`SubagentEvent`); None: the agent's own."""


class PermissionDecidedEvent(EventBase):
    """How a permission request was answered, by whom (policy, callback, user, cancel), and the
    option the agent was told.
    """

    kind: Literal["permission_decided"] = "permission_decided"
    source: Source = "user"
    request_id: str
    decision: str
    option_id: str | None = None
    decided_by: Literal["policy", "callback", "user", "cancel", "timeout"] = "policy"


class ElicitationRequestedEvent(EventBase):
    """The agent asks the user for information (ACP ``elicitation/create``): a form
    (``mode="form"``: ``message`` and a flat ``requested_schema``) or consent to open a URL
    (``mode="url"``: ``url`` and the agent's ``elicitation_id``). Answer it by ``request_id``
    (acphost's) with ``accept``, ``decline`` or ``cancel``."""

    kind: Literal["elicitation_requested"] = "elicitation_requested"
    request_id: str
    mode: str
    message: str = ""
    requested_schema: dict[str, Any] | None = None
    url: str | None = None
    elicitation_id: str | None = None
    tool_call_id: str | None = None
    session_id: str | None = None
    """The session the request is scoped to (``None``: scoped to an agent request)."""
    scope_request_id: Any = None
    """The agent's ``requestId`` for a request-scoped elicitation (outside a session)."""
    extra: dict[str, Any] | None = None
    """Keys of the request no field carries (``_meta``...), as sent."""


class ElicitationAnsweredEvent(EventBase):
    """How an elicitation was answered and by whom (user, callback, policy, cancel): the
    ``action`` and the ``content`` the agent was told (only an accepted form has content)."""

    kind: Literal["elicitation_answered"] = "elicitation_answered"
    source: Source = "user"
    request_id: str
    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None
    answered_by: Literal["policy", "callback", "user", "cancel"] = "user"
    reason: str = ""
    """Why it was answered so without a person (a policy, a cancelled turn, a bad answer)."""


class ElicitationCompletedEvent(EventBase):
    """The agent says the out-of-band interaction of an accepted URL elicitation finished
    (``elicitation/complete``). ``request_id`` is acphost's id of that request; ``None`` with
    ``known=False`` when no open URL elicitation has this ``elicitation_id`` (ignored)."""

    kind: Literal["elicitation_completed"] = "elicitation_completed"
    elicitation_id: str
    request_id: str | None = None
    known: bool = True
    extra: dict[str, Any] | None = None
    """Keys of the notification besides ``elicitationId``, as sent."""


class PermissionModeEvent(EventBase):
    """Whether the permission policy can hold the agent back: the session mode acphost
    selected so that the agent asks before acting (``mode_id``), or, with ``can_ask`` false,
    why the agent will act without asking (no permission system, no asking mode on offer)."""

    kind: Literal["permission_mode"] = "permission_mode"
    source: Source = "host"
    mode_id: str | None = None
    can_ask: bool = True
    message: str = ""
