"""The local executor: trials run in this process, on acphost's I/O loop."""

from __future__ import annotations

from acphost.jobs._schema import Job
from acphost.jobs._store import JobStore, TrialRecord
from acphost.jobs._trial import TrialSpec, run_trial

__all__ = ["Executor", "LocalExecutor"]


class Executor:
    """Where trials run. The job runner calls :meth:`start`, then :meth:`run` for every
    trial (concurrently, within the job's limits), then :meth:`close`."""

    async def start(self, job: Job, store: JobStore) -> None:
        """Prepare for ``job`` (connect to a cluster...)."""

    async def run(self, spec: TrialSpec) -> TrialRecord:
        """Run one trial to its record; ``spec.report`` is called at its start and end."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what :meth:`start` took."""


class LocalExecutor(Executor):
    """Each trial in this process: its own workspace and agent process, driven by ``arun``
    on the caller's loop while the agents' I/O runs on acphost's I/O loop."""

    async def run(self, spec: TrialSpec) -> TrialRecord:
        return await run_trial(spec)
