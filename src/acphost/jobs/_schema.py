"""The job schema: tasks × agents × attempts, with budgets, limits and retries.

One set of pydantic models serves the job files (TOML, YAML, a JSONL of tasks) and the Python
API, so a job written either way is validated by the same rules.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["AgentConfig", "Budget", "Job", "Task", "WorkspaceSource"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{what} {value!r} must be letters, digits, '.', '_' or '-'")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSource(_Model):
    """Where a trial's workspace comes from: a local folder copied fresh, a git repository
    checked out at ``rev`` into a fresh clone, or (neither given) an empty folder."""

    path: str | None = None
    git: str | None = None
    rev: str = "HEAD"

    @model_validator(mode="after")
    def _one_source(self) -> WorkspaceSource:
        if self.path is not None and self.git is not None:
            raise ValueError("give either path or git, not both")
        return self


class Task(_Model):
    """One task: the prompt(s) of its turns, its workspace, and how to check the result.

    ``check`` is a shell command run in the workspace after the last turn: exit status 0
    passes. A line ``score: <number>`` in its output is recorded as the score. ``timeout``
    bounds the whole trial (setup, turns and check) in seconds.
    """

    id: str
    prompt: str | list[str]
    workspace: WorkspaceSource = WorkspaceSource()
    setup: str | None = None
    check: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    check_timeout: float = Field(default=300.0, gt=0)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value, "task id")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | list[str]) -> str | list[str]:
        if not value or (isinstance(value, list) and not all(value)):
            raise ValueError("a prompt cannot be empty")
        return value

    @property
    def prompts(self) -> list[str]:
        """The turns' prompts, in order."""
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class AgentConfig(_Model):
    """An agent of the job: a registry name (``agent``) or a ``command``, and its options.

    ``name`` labels it in results (default: the registry name). ``resources`` are the Ray
    resources each of its trials needs besides ``cpus`` (e.g. ``{"agent:claude" = 1}`` for the
    nodes that have it installed).
    """

    name: str = ""
    agent: str | None = None
    command: list[str] | None = None
    env: dict[str, str | None] = Field(default_factory=dict)  # None: unset the inherited
    mode: str | None = None
    model: str | None = None
    permission: Literal["allow", "deny"] = "allow"
    idle_timeout: float | None = Field(default=600.0, gt=0)
    turn_timeout: float | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, ge=1)
    cpus: float = Field(default=1.0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_command(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("command"), str):
            data = {**data, "command": shlex.split(data["command"])}
        return data

    @model_validator(mode="after")
    def _named(self) -> AgentConfig:
        if (self.agent is None) == (self.command is None):
            raise ValueError("give exactly one of agent (a registry name) or command")
        if self.command is not None and not self.command:
            raise ValueError("command cannot be empty")
        if not self.name:
            default = self.agent or self.command[0].rsplit("/", 1)[-1]  # type: ignore[index]
            object.__setattr__(self, "name", default)
        _check_id(self.name, "agent name")
        return self


class Budget(_Model):
    """Spending caps in the agents' reported currency (dollars): per trial and per job."""

    trial: float | None = Field(default=None, gt=0)
    job: float | None = Field(default=None, gt=0)


class Job(_Model):
    """A job: every task with every agent, ``attempts`` times.

    Running the same job (same ``name``, same store) again resumes it: finished
    (task, agent, attempt) cells are skipped. ``retries`` re-run a trial whose failure came
    from the infrastructure and left no effect (the agent did nothing), with backoff.
    """

    name: str
    tasks: list[Task]
    agents: list[AgentConfig]
    attempts: int = Field(default=1, ge=1)
    concurrency: int = Field(default=4, ge=1)
    budget: Budget = Budget()
    retries: int = Field(default=2, ge=0)
    retry_backoff: float = Field(default=1.0, ge=0)
    sandbox: Literal["folder", "command"] = "folder"
    sandbox_command: list[str] | None = None

    @model_validator(mode="after")
    def _sandbox(self) -> Job:
        if (self.sandbox == "command") != bool(self.sandbox_command):
            raise ValueError('sandbox_command is required by, and only by, sandbox = "command"')
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_id(value, "job name")

    @model_validator(mode="after")
    def _unique(self) -> Job:
        for what, ids in (
            ("task id", [t.id for t in self.tasks]),
            ("agent name", [a.name for a in self.agents]),
        ):
            seen: set[str] = set()
            for value in ids:
                if value in seen:
                    raise ValueError(f"{what} {value!r} appears twice")
                seen.add(value)
        if not self.tasks:
            raise ValueError("a job needs at least one task")
        if not self.agents:
            raise ValueError("a job needs at least one agent")
        return self

    def task(self, task_id: str) -> Task:
        """The task with this id."""
        return next(t for t in self.tasks if t.id == task_id)

    def agent(self, name: str) -> AgentConfig:
        """The agent with this name."""
        return next(a for a in self.agents if a.name == name)

    def cells(self) -> list[tuple[str, str, int]]:
        """Every (task, agent, attempt) of the job, in run order (attempts last)."""
        return [
            (task.id, agent.name, attempt)
            for attempt in range(1, self.attempts + 1)
            for task in self.tasks
            for agent in self.agents
        ]
