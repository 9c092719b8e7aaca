"""Running a job: every cell not yet finished, within the job's concurrency and budget.

Cells run concurrently, at most ``job.concurrency`` at once and ``agent.concurrency`` per
agent. Before a trial starts, the job's spending (finished trials plus the running ones' cost
so far) is compared with its cap: at the cap no new trial starts. Cancelled (Ctrl-C), the
running trials are interrupted and recorded ``cancelled``; the next run runs them again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acphost.jobs._local import Executor, LocalExecutor
from acphost.jobs._results import JobResults, summarize
from acphost.jobs._schema import Job
from acphost.jobs._store import JobStore, TrialRecord
from acphost.jobs._trial import TrialSpec
from acphost.store import default_store_path

__all__ = ["JobProgress", "arun_job", "run_job"]

Cell = tuple[str, str, int]


@dataclass
class JobProgress:
    """Where a running job stands, for progress displays (updated on the runner's loop)."""

    job: str
    total: int
    todo: int
    outcomes: dict[str, int] = field(default_factory=dict)
    running: int = 0
    cost: float = 0.0
    budget_reached: bool = False
    started: float = field(default_factory=time.monotonic)
    done_now: int = 0  # finished in this run

    @property
    def done(self) -> int:
        """Finished cells, this run's and earlier runs'."""
        return sum(self.outcomes.values())

    @property
    def passed(self) -> int:
        """Finished cells that passed."""
        return self.outcomes.get("passed", 0)

    @property
    def failed(self) -> int:
        """Finished cells that did not pass (failed, error, timed out, over budget)."""
        return self.done - self.passed

    @property
    def time_left(self) -> float | None:
        """Seconds, from this run's pace so far (``None`` before the first trial ends)."""
        if not self.done_now:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done_now * max(0, self.todo - self.done_now)


class _Run:
    """One run of a job: its cells, limits, spending and progress."""

    def __init__(
        self,
        job: Job,
        store: JobStore,
        executor: Executor,
        root: Path,
        on_progress: Callable[[JobProgress], None] | None,
    ) -> None:
        self.job, self.store, self.executor, self.root = job, store, executor, root
        self.on_progress = on_progress or (lambda progress: None)
        self.existing = {r.cell: r for r in store.trials(job.name)}
        self.todo = [c for c in job.cells() if not self._finished(c)]
        self.progress = JobProgress(job.name, len(job.cells()), len(self.todo))
        self.spent = 0.0  # finished trials
        self.live: dict[Cell, float] = {}  # running trials' cost so far
        self.running: set[Cell] = set()
        for cell in job.cells():
            record = self.existing.get(cell)
            if record is not None and record.finished:
                self._count(record)
        self.slots = asyncio.Semaphore(job.concurrency)
        self.agent_slots = {
            a.name: asyncio.Semaphore(a.concurrency or job.concurrency) for a in job.agents
        }

    def _finished(self, cell: Cell) -> bool:
        record = self.existing.get(cell)
        return record is not None and record.finished

    def _count(self, record: TrialRecord) -> None:
        self.progress.outcomes[record.outcome] = self.progress.outcomes.get(record.outcome, 0) + 1
        self.spent += record.cost or 0.0
        self.progress.cost = self.spent + sum(self.live.values())

    def _over_budget(self) -> bool:
        cap = self.job.budget.job
        return cap is not None and self.spent + sum(self.live.values()) >= cap

    def _on_cost(self, cell: Cell, cost: float) -> None:
        self.live[cell] = cost
        self.progress.cost = self.spent + sum(self.live.values())
        self.on_progress(self.progress)

    def _report(self, record: TrialRecord) -> None:
        self.store.put_trial(record)
        if record.ended_at is not None:
            self._stopped(record.cell)
            if record.finished:
                self._count(record)
                self.progress.done_now += 1
        self.on_progress(self.progress)

    def _stopped(self, cell: Cell) -> None:
        self.running.discard(cell)
        self.live.pop(cell, None)
        self.progress.running = len(self.running)

    async def cell(self, cell: Cell) -> None:
        task_id, agent, attempt = cell
        async with self.agent_slots[agent], self.slots:
            if self._over_budget():
                self.progress.budget_reached = True
                self.on_progress(self.progress)
                return
            before = self.existing.get(cell)
            previous = [] if before is None else [*before.previous, before.conversation_id or ""]
            spec = TrialSpec(
                job=self.job,
                task_id=task_id,
                agent=agent,
                attempt=attempt,
                store=self.store.events,
                root=self.root,
                report=self._report,
                on_cost=lambda cost: self._on_cost(cell, cost),
                previous=[p for p in previous if p],
            )
            self.running.add(cell)
            self.progress.running = len(self.running)
            try:
                await self.executor.run(spec)
            finally:
                self._stopped(cell)
                self.on_progress(self.progress)


async def arun_job(
    job: Job,
    *,
    store: str | os.PathLike[str] | JobStore | None = None,
    executor: Executor | None = None,
    workdir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
) -> JobResults:
    """Run (or resume) ``job``; its trials' conversations and records go to ``store``
    (default: acphost's store). Workspaces are made under ``workdir`` (default: a
    ``workspaces`` folder beside the store)."""
    jobs = store if isinstance(store, JobStore) else JobStore(store or default_store_path())
    try:
        root = Path(workdir) if workdir else Path(jobs.path).resolve().parent / "workspaces"
        executor = executor or LocalExecutor()
        jobs.save_job(job)
        run = _Run(job, jobs, executor, root, on_progress)
        try:
            await executor.start(job, jobs)
            tasks = [asyncio.ensure_future(run.cell(cell)) for cell in run.todo]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.gather(*tasks, return_exceptions=True)
                jobs.set_status(job.name, "stopped")
                raise
        finally:
            await executor.close()
        jobs.set_status(job.name, "budget_reached" if run.progress.budget_reached else "finished")
        return summarize(job, jobs.trials(job.name))
    finally:
        if not isinstance(store, JobStore):
            jobs.close()


def run_job(
    job: Job,
    *,
    store: str | os.PathLike[str] | JobStore | None = None,
    executor: Executor | None = None,
    workdir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
) -> JobResults:
    """:func:`arun_job`, blocking this thread.

    Where this thread already runs an event loop (a notebook cell, sync code called from async
    code), the job runs on a loop of its own in another thread: ``asyncio.run`` refuses to run
    inside a loop. Ctrl-C there cancels the job as it would here (its running trials are
    recorded ``cancelled``) before it propagates.
    """
    running = arun_job(
        job, store=store, executor=executor, workdir=workdir, on_progress=on_progress
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(running)
    return _run_in_a_thread(running)


def _run_in_a_thread(running: Coroutine[Any, Any, JobResults]) -> JobResults:
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]]
    started = concurrent.futures.Future()

    async def main() -> JobResults:
        task = asyncio.current_task()
        assert task is not None
        started.set_result((asyncio.get_running_loop(), task))
        return await running

    with concurrent.futures.ThreadPoolExecutor(1, "acphost-job") as thread:
        done = thread.submit(asyncio.run, main())
        try:
            return done.result()
        except BaseException:
            if not done.done():  # Ctrl-C: cancel the job; leaving waits until it is recorded
                loop, task = started.result()
                with contextlib.suppress(RuntimeError):  # it ended meanwhile: the loop closed
                    loop.call_soon_threadsafe(task.cancel)
            raise
