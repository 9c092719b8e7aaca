"""One trial: a fresh workspace, an ordinary stored conversation, a check, an outcome.

The conversation is driven with ``arun()`` like any other, so everything that works on a
conversation (show, replay, the console) works on a trial. Its callback watches the cost the
agent reports: at the trial's cap the turn is interrupted and the trial is ``over_budget``.
A try that failed in the infrastructure (the agent did not start, died, or the connection
broke) before the agent did anything is tried again with backoff, in a fresh workspace; every
try's conversation stays in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from acphost.agents import KNOWN_AGENTS, ACPAgent
from acphost.conversation import Conversation
from acphost.errors import AcphostError, RequestTimeout, UsageError
from acphost.events import Event, ToolCallEvent, UsageEvent
from acphost.jobs._schema import AgentConfig, Job, Task
from acphost.jobs._store import TrialRecord
from acphost.jobs._workspace import (
    CommandSandbox,
    FolderSandbox,
    Sandbox,
    WorkspaceSetupError,
    materialise,
)
from acphost.store import EventStore

__all__ = ["TrialSpec", "run_trial", "sandbox_of"]

log = logging.getLogger("acphost.jobs")

# Events that show the agent did something: a try with one of these is never run again.
_EFFECTS = frozenset(
    ("agent_message", "thought", "tool_call", "terminal", "plan", "permission_requested")
)
_SCORE = re.compile(r"^\s*score\s*[:=]\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$", re.M | re.I)
_OUTPUT_KEEP = 4000  # characters of a check's output kept in the record


def _ignore(value: object) -> None:
    """A hook nobody listens to."""


@dataclass
class TrialSpec:
    """What one trial needs: its job, its cell, where its workspace goes, and hooks.

    ``report`` receives the record when the trial starts and when it ends; ``on_cost``
    the trial's cost each time the agent reports one.
    """

    job: Job
    task_id: str
    agent: str
    attempt: int
    store: EventStore
    root: Path
    report: Callable[[TrialRecord], None] = field(default_factory=lambda: _ignore)
    on_cost: Callable[[float], None] = field(default_factory=lambda: _ignore)
    packed: bytes | None = None
    node: str | None = None
    previous: list[str] = field(default_factory=list)

    @property
    def task(self) -> Task:
        """The trial's task."""
        return self.job.task(self.task_id)

    @property
    def config(self) -> AgentConfig:
        """The trial's agent."""
        return self.job.agent(self.agent)


def sandbox_of(job: Job) -> Sandbox:
    """The job's sandbox level as an object."""
    if job.sandbox == "command" and job.sandbox_command:
        return CommandSandbox(job.sandbox_command)
    return FolderSandbox()


async def run_trial(spec: TrialSpec) -> TrialRecord:
    """Run the cell to its outcome, retrying infrastructure failures that left no effect.

    Cancelled (Ctrl-C, the job stopping), the trial is recorded ``cancelled`` and the
    cancellation goes on.
    """
    previous = list(spec.previous)
    tries = len(previous)  # earlier runs of the job tried this cell already
    while True:
        tries += 1
        record = TrialRecord(
            job_id=spec.job.name,
            task_id=spec.task_id,
            agent=spec.agent,
            attempt=spec.attempt,
            conversation_id=uuid.uuid4().hex,
            previous=list(previous),
            tries=tries,
            node=spec.node,
        )
        spec.report(record)
        retry = await _try(spec, record, tries)
        if not retry or tries - len(spec.previous) > spec.job.retries:
            record.ended_at = time.time()
            spec.report(record)
            return record
        if record.conversation_id is not None:
            previous.append(record.conversation_id)
        await asyncio.sleep(spec.job.retry_backoff * 2 ** (tries - len(spec.previous) - 1))


async def _try(spec: TrialSpec, record: TrialRecord, tries: int) -> bool:
    """One try; fills ``record`` in; whether it may be tried again."""
    task, started = spec.task, time.monotonic()
    workspace = spec.root / spec.job.name / task.id / spec.agent / f"{spec.attempt}.{tries}"
    sandbox = sandbox_of(spec.job)
    watch = _Watch(spec)
    conversation: Conversation | None = None
    try:
        try:
            async with asyncio.timeout(task.timeout):
                await asyncio.to_thread(materialise, task.workspace, workspace, packed=spec.packed)
                if task.setup:
                    await _setup(task, workspace, sandbox)
                conversation = _conversation(spec, record, workspace, sandbox, watch)
                await _drive(conversation, spec.config, task, watch, record)
        except TimeoutError:
            record.outcome = "timed_out"
            record.error = RequestTimeout(
                f"the trial took longer than its task's timeout ({task.timeout} s)"
            ).to_dict()
        except RequestTimeout as exc:
            record.outcome, record.error = "timed_out", exc.to_dict()
        except AcphostError as exc:
            record.outcome, record.error = "error", exc.to_dict()
            if exc.retryable and not watch.effect:
                return True
        except Exception as exc:  # a bug or an OS failure: this trial's, not the job's
            log.exception("trial %s/%s/%s failed", task.id, spec.agent, spec.attempt)
            record.outcome = "error"
            record.error = {
                "code": "trial_failed",
                "message": repr(exc),
                "hint": "",
                "retryable": False,
            }
        finally:
            if conversation is not None:
                await conversation.aclose()
                _figures(conversation, watch, record)
            else:  # it failed before its conversation began: there is none to point at
                record.conversation_id = None
        if record.outcome == "running" and watch.over_budget:
            record.outcome = "over_budget"
        if record.outcome == "running":
            await _check(task, workspace, sandbox, record)
    except asyncio.CancelledError:
        record.outcome = "cancelled"
        record.ended_at = time.time()
        spec.report(record)
        raise
    finally:
        record.wall_time = time.monotonic() - started
    return False


def _conversation(
    spec: TrialSpec, record: TrialRecord, workspace: Path, sandbox: Sandbox, watch: _Watch
) -> Conversation:
    conversation = Conversation(
        _agent(spec.config, sandbox, workspace),
        workspace,
        store=spec.store,
        permission=spec.config.permission,
        idle_timeout=spec.config.idle_timeout,
        turn_timeout=spec.config.turn_timeout,
        max_retries=0,  # retries are the job's, in a fresh workspace
        title=f"{spec.job.name} · {spec.task_id} · {spec.agent} #{spec.attempt}",
        id=record.conversation_id,
        callbacks=[watch],
    )
    watch.conversation = conversation
    return conversation


class _Watch:
    """The trial's conversation callback: cost cap, effects, tool calls (on the driver)."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.cap = spec.job.budget.trial
        self.conversation: Conversation | None = None
        self.effect = False
        self.over_budget = False
        self.tool_calls: set[str] = set()

    def __call__(self, event: Event) -> None:
        if event.kind in _EFFECTS:
            self.effect = True
        if isinstance(event, ToolCallEvent):
            self.tool_calls.add(event.tool_call_id)
        elif isinstance(event, UsageEvent) and self.conversation is not None:
            cost = self.conversation.state.cost
            if cost is not None:
                self.spec.on_cost(cost)
                if self.cap is not None and cost >= self.cap and not self.over_budget:
                    self.over_budget = True
                    self.conversation.interrupt()


async def _drive(
    conversation: Conversation,
    config: AgentConfig,
    task: Task,
    watch: _Watch,
    record: TrialRecord,
) -> None:
    if config.mode is not None:
        await asyncio.to_thread(conversation.set_mode, config.mode)
    if config.model is not None:
        await asyncio.to_thread(conversation.set_model, config.model)
    for prompt in task.prompts:
        ended = await conversation.arun(prompt)
        if ended is not None:
            record.stop_reason = ended.stop_reason
        if watch.over_budget or record.stop_reason != "end_turn":
            break


def _agent(config: AgentConfig, sandbox: Sandbox, workspace: Path) -> ACPAgent:
    if config.agent is not None:
        entry = KNOWN_AGENTS.get(config.agent)
        if entry is None:
            raise UsageError(
                f"unknown agent {config.agent!r}", hint="use a registry name or a command"
            )
        agent = entry.agent(env=config.env)
        agent.command = sandbox.wrap(agent.command, workspace)
        return agent
    assert config.command is not None
    return ACPAgent(sandbox.wrap(config.command, workspace), name=config.name, env=config.env)


def _figures(conversation: Conversation, watch: _Watch, record: TrialRecord) -> None:
    with conversation.state as state:
        record.cost = state.cost
        record.currency = state.currency
        record.input_tokens = state.usage.input_tokens
        record.output_tokens = state.usage.output_tokens
        record.total_tokens = state.usage.total_tokens
        record.turns = state.turns
    record.tool_calls = len(watch.tool_calls)


async def _run_shell(
    command: str, workspace: Path, sandbox: Sandbox, timeout: float | None
) -> tuple[int, str]:
    """Run ``command`` with ``sh -c`` in the workspace: exit status and output (both
    streams). Killed at ``timeout`` (exit status -9)."""
    process = await asyncio.create_subprocess_exec(
        *sandbox.wrap(["sh", "-c", command], workspace),
        cwd=workspace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode("utf-8", "replace")


async def _setup(task: Task, workspace: Path, sandbox: Sandbox) -> None:
    assert task.setup is not None
    code, output = await _run_shell(task.setup, workspace, sandbox, None)
    if code != 0:
        raise WorkspaceSetupError(
            f"the task's setup command exited with {code}: {output.strip()[-500:]}"
        )


async def _check(task: Task, workspace: Path, sandbox: Sandbox, record: TrialRecord) -> None:
    """Without a check, a trial whose turns all ended ``end_turn`` passes."""
    if task.check is None:
        record.outcome = "passed" if record.stop_reason == "end_turn" else "failed"
        return
    try:
        code, output = await _run_shell(task.check, workspace, sandbox, task.check_timeout)
    except TimeoutError:
        record.outcome = "failed"
        record.check_output = f"the check took longer than {task.check_timeout} s"
        return
    record.check_exit = code
    record.check_output = output[-_OUTPUT_KEEP:]
    scores = _SCORE.findall(output)
    record.score = float(scores[-1]) if scores else None
    record.outcome = "passed" if code == 0 else "failed"
