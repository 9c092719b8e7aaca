"""A job's results: the task × agent grid and per-agent statistics.

The pass rate's 95% interval is Wilson's score interval (sound for small counts and rates of
0 or 1, unlike the normal approximation). Cost per solved task is the agent's total cost over
its passed trials: what one success costs, failures included.
"""

from __future__ import annotations

import math
import statistics

from pydantic import BaseModel

from acphost.jobs._schema import Job
from acphost.jobs._store import TrialRecord

__all__ = ["AgentStats", "JobResults", "summarize", "wilson_interval"]

_Z95 = 1.959963984540054


def wilson_interval(passed: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (``(0, 1)`` when there is no trial)."""
    if total == 0:
        return (0.0, 1.0)
    rate = passed / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


class AgentStats(BaseModel):
    """One agent's figures over its finished trials."""

    agent: str
    trials: int
    passed: int
    outcomes: dict[str, int]
    pass_rate: float | None
    pass_rate_low: float
    pass_rate_high: float
    total_cost: float | None
    mean_cost: float | None
    cost_per_solved: float | None
    median_time: float | None
    total_tokens: int
    mean_tokens: float | None


class JobResults(BaseModel):
    """What a job found: every trial, the grid and per-agent statistics."""

    job: str
    tasks: list[str]
    agents: list[str]
    trials: list[TrialRecord]
    stats: list[AgentStats]

    def cell(self, task_id: str, agent: str) -> list[TrialRecord]:
        """The trials of one grid cell (one per attempt), by attempt."""
        return sorted(
            (t for t in self.trials if t.task_id == task_id and t.agent == agent),
            key=lambda t: t.attempt,
        )

    def stats_of(self, agent: str) -> AgentStats:
        """One agent's statistics."""
        return next(s for s in self.stats if s.agent == agent)


def summarize(job: Job, trials: list[TrialRecord]) -> JobResults:
    """Figures of the job's trials (unfinished ones are listed, not counted)."""
    return JobResults(
        job=job.name,
        tasks=[t.id for t in job.tasks],
        agents=[a.name for a in job.agents],
        trials=trials,
        stats=[_stats(a.name, [t for t in trials if t.agent == a.name]) for a in job.agents],
    )


def _stats(agent: str, trials: list[TrialRecord]) -> AgentStats:
    done = [t for t in trials if t.finished]
    passed = sum(t.outcome == "passed" for t in done)
    outcomes: dict[str, int] = {}
    for trial in done:
        outcomes[trial.outcome] = outcomes.get(trial.outcome, 0) + 1
    costs = [t.cost for t in done if t.cost is not None]
    total_cost = sum(costs) if costs else None
    low, high = wilson_interval(passed, len(done))
    return AgentStats(
        agent=agent,
        trials=len(done),
        passed=passed,
        outcomes=outcomes,
        pass_rate=passed / len(done) if done else None,
        pass_rate_low=low,
        pass_rate_high=high,
        total_cost=total_cost,
        mean_cost=total_cost / len(costs) if total_cost is not None else None,
        cost_per_solved=total_cost / passed if total_cost is not None and passed else None,
        median_time=statistics.median(t.wall_time for t in done) if done else None,
        total_tokens=sum(t.total_tokens for t in done),
        mean_tokens=sum(t.total_tokens for t in done) / len(done) if done else None,
    )
