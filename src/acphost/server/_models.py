"""Request and response bodies: the HTTP contract, documented in ``openapi.json``.

Requests forbid unknown fields, so a typo (``"mesage"``) is a 422 instead of a silently
ignored option, and their types are strict: ``"run": "yes"`` or ``"run": 0`` is a 422, not a
guess at what the client meant. Strings that reach the operating system (paths, argv,
environment) may not contain NUL bytes, which no OS call accepts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from acphost.events import Event, TokenUsage

__all__ = [
    "ActionResult",
    "AgentInfo",
    "AnswerPermission",
    "ConversationDetail",
    "ConversationPage",
    "ConversationSummary",
    "CreateConversation",
    "ErrorBody",
    "EventPage",
    "Health",
    "MessageAccepted",
    "PendingPermission",
    "SendMessage",
    "SetConfigOption",
    "SetMode",
    "Steer",
    "SteerAccepted",
]

MAX_SEQ = 2**63 - 1
"""SQLite integers are 64-bit; a bigger seq or offset can only be a client's mistake."""

Status = Literal["idle", "running", "paused", "finished", "error"]
PermissionMode = Literal["allow", "deny", "ask"]
Decision = Literal["allow_once", "allow_always", "reject_once", "reject_always"]


# Constraints in the schema itself, so that clients (and generated ones) know them.
OsStr = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
NonEmptyOsStr = Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\x00]*$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
_ENV_NAME = r"^[^=\x00]+$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateConversation(_Request):
    """Start a conversation with a registry agent (``agent``) or any ACP program (``command``)."""

    # exactly one of agent/command, said in the schema too (so generated clients know)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"oneOf": [{"required": ["agent"]}, {"required": ["command"]}]},
    )

    # constraints sit on the ``str`` side: on the union they would be applied to None too
    agent: NonEmpty | SkipJsonSchema[None] = Field(
        None, description="A registry name (see GET /api/agents), e.g. `demo`"
    )
    command: NonEmptyOsStr | SkipJsonSchema[None] = Field(
        None, description="An ACP agent program, instead of `agent`"
    )
    args: list[OsStr] = Field(
        default_factory=list, description="Arguments added to `command` or the agent's command"
    )
    env: dict[str, OsStr] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": {"pattern": _ENV_NAME}},
        description="Added to the agent's environment. Values are never stored: a conversation "
        "resumed after a restart runs without them",
    )
    workspace: OsStr = Field(min_length=1, description="An existing directory on the server")
    message: NonEmpty | SkipJsonSchema[None] = Field(
        None, description="A first message, run at once"
    )
    permission: PermissionMode = Field(
        "deny", description="How permission requests are answered; `ask` waits for a client"
    )
    elicitation: Literal["ask", "decline"] | SkipJsonSchema[None] = Field(
        None,
        description="How the agent's questions (a form, a URL to open) are answered: `ask` "
        "waits for a client, `decline` declines them at once; default: `ask` if permission "
        "is `ask`, else `decline`",
    )
    title: Annotated[str, StringConstraints(max_length=500)] | SkipJsonSchema[None] = None
    system_prompt: NonEmpty | SkipJsonSchema[None] = Field(
        None,
        description="Instructions for the agent's system prompt, given with every session it "
        "opens; an agent that does not advertise `systemPrompt` fails the turn "
        "(`capability_missing`)",
    )
    system_prompt_mode: Literal["append", "override"] = Field(
        "append",
        description="`append`: after the agent's own system prompt; `override`: instead of it",
    )
    max_cost: Annotated[float, Field(ge=0)] | SkipJsonSchema[None] = Field(
        None,
        description="A budget in the agent's currency: the turn that goes over it is cancelled "
        "and ends with a `budget_exceeded` error; no turn starts while over it",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not re.match(_ENV_NAME, name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return env

    @model_validator(mode="after")
    def _one_agent(self) -> CreateConversation:
        if (self.agent is None) == (self.command is None):
            raise ValueError("give exactly one of `agent` (a registry name) or `command`")
        return self


class SendMessage(_Request):
    text: str = Field(min_length=1)
    run: bool = Field(True, description="Run it now; false only queues it for the next run")


class Steer(_Request):
    text: str = Field(min_length=1)


class SetConfigOption(_Request):
    config_id: str = Field(min_length=1)
    value: str | bool


class SetMode(_Request):
    mode_id: str = Field(min_length=1)


class AnswerPermission(_Request):
    decision: Decision


class AnswerElicitation(_Request):
    """``accept`` (with the form's ``content``; for a URL: consent), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | SkipJsonSchema[None] = Field(
        None, description="The form's field values (accept only); checked against its schema"
    )


class ErrorBody(BaseModel):
    """Every error: ``code`` is stable and machine-readable, ``hint`` says what to do."""

    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    details: Any = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    live_conversations: int


class AgentInfo(BaseModel):
    """A registry agent (its environment values are never shown: they may be secrets)."""

    name: str
    title: str
    command: list[str]
    installed: bool
    install: str
    credentials: list[str] = Field(description="Environment variables it reads its keys from")
    homepage: str
    notes: str


class ConversationSummary(BaseModel):
    id: str
    agent: str
    workspace: str
    title: str | None
    status: Status
    created_at: float
    updated_at: float
    live: bool = Field(description="Whether its agent is attached in this server process")
    running: bool = Field(description="Whether a turn is being driven right now")
    cost: float | None = Field(description="Total cost reported by the agent, if it reports one")
    currency: str | None
    pending_permission_count: int = Field(
        description="Permission requests waiting for an answer (see pending_permissions)"
    )
    pending_elicitation_count: int = Field(
        0, description="Elicitations waiting for an answer (see pending_elicitations)"
    )


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    total: int
    limit: int
    offset: int


class PendingPermission(BaseModel):
    request_id: str
    seq: int
    tool_call_id: str
    title: str
    options: list[dict[str, Any]]
    tool_call: dict[str, Any]


class PendingElicitation(BaseModel):
    """The agent asks the user: a form (``requested_schema``) or consent to open ``url``."""

    request_id: str
    seq: int
    mode: str
    message: str
    requested_schema: dict[str, Any] | None
    url: str | None
    elicitation_id: str | None
    tool_call_id: str | None


class ConversationDetail(ConversationSummary):
    """A conversation's state: the fold of its events (see GET .../events)."""

    last_seq: int
    session_id: str | None
    permission: str
    turns: int
    last_stop_reason: str | None
    usage: TokenUsage
    context_used: int | None
    context_size: int | None
    mode_id: str | None
    modes: list[dict[str, Any]]
    model: str | None
    models: list[dict[str, Any]] = Field(description="The values the model option offers")
    config_options: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    plan: list[dict[str, Any]]
    running_tool_calls: list[str]
    pending_permissions: list[PendingPermission]
    pending_elicitations: list[PendingElicitation] = Field(default_factory=list)


class ActionResult(BaseModel):
    conversation_id: str
    status: Status
    running: bool = Field(description="Whether a turn is being driven right now")


class MessageAccepted(ActionResult):
    seq: int = Field(description="The seq of the stored user_message event")
    turn: int | None


class SteerAccepted(MessageAccepted):
    steered: bool = Field(
        description="True: it joined the running turn; false: it was queued as the next turn"
    )


class EventPage(BaseModel):
    """A page of events; pass ``next_after_seq`` as ``after_seq`` for the next page."""

    events: list[Event]
    next_after_seq: int
    has_more: bool
