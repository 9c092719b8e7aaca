"""One job, end to end, with two real agents (fast-agent and Claude Code) on three tasks.

Both agents talk to the scripted model server (fast-agent over Chat Completions, Claude Code
over Anthropic Messages), so the same task prompts work for both; the model's answers write
the file each task's check looks at. Trials run one at a time so the scripted answers go to
the trial they were written for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acphost.jobs import AgentConfig, Job, Task, run_job
from acphost.store import SQLiteStore
from acphost.testing import ModelRequest, ModelServer, TextReply, ToolCallReply
from agents import PROFILES, AgentUnavailable, require

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(600)]

TASKS = {  # task id: (file, what the model writes, the check)
    "hello": ("hello.txt", "hello world\n", "grep -q hello hello.txt"),
    "answer": ("answer.txt", "42", 'test "$(cat answer.txt)" = 42'),
    "wrong": ("result.txt", "wrong", 'test "$(cat result.txt)" = right'),
}


def _write(path: Path, content: str) -> ToolCallReply:
    def arguments(request: ModelRequest) -> dict[str, Any]:
        if "Write" in request.tools:  # Claude Code's tool
            return {"file_path": str(path), "content": content}
        return {"path": str(path), "content": content}

    return ToolCallReply(name=("Write", "write_text_file"), arguments=arguments)


def test_a_job_with_two_real_agents_on_three_tasks(tmp_path: Path) -> None:
    profiles = [p for p in PROFILES if p.label in ("fast-agent-model", "claude")]
    with ModelServer(final_text="All done.") as server:
        agents = []
        for profile in profiles:
            try:
                agent = profile.agent(tmp_path, server.base_url)
            except AgentUnavailable as exc:
                require(profile.entry, exc)
            agents.append(
                AgentConfig(
                    name=profile.entry,
                    command=agent.command,
                    env=dict(agent.env),
                    permission="allow",
                    idle_timeout=120,
                )
            )
        job = Job(
            name="real",
            concurrency=1,
            agents=agents,
            tasks=[
                Task(id=task, prompt=f"Write {file} please", check=check, timeout=300)
                for task, (file, _, check) in TASKS.items()
            ],
        )
        workdir = tmp_path / "ws"
        for task, (file, content, _) in TASKS.items():
            for agent_config in agents:
                where = workdir / "real" / task / agent_config.name / "1.1" / file
                server.script(_write(where, content), TextReply(text="All done."))
        results = run_job(job, store=tmp_path / "s.db", workdir=workdir)
    outcomes = {(t.task_id, t.agent): t.outcome for t in results.trials}
    expected = {"hello": "passed", "answer": "passed", "wrong": "failed"}
    assert outcomes == {(t, a.name): expected[t] for t in TASKS for a in agents}, [
        (t.task_id, t.agent, t.outcome, t.error, t.check_output) for t in results.trials
    ]
    claude = results.stats_of("claude")
    assert (claude.passed, claude.trials) == (2, 3)
    assert claude.total_cost is not None
    assert claude.total_cost > 0  # Claude Code reports its cost
    assert claude.cost_per_solved == pytest.approx(claude.total_cost / 2)
    with SQLiteStore(tmp_path / "s.db") as store:
        for trial in results.trials:
            kinds = {e.kind for e in store.events(trial.conversation_id or "")}
            assert {"tool_call", "permission_requested", "turn_ended"} <= kinds, trial
            assert trial.tool_calls >= 1
