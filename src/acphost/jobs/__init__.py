"""Jobs: many tasks × many agents × attempts, compared side by side, scaled out on Ray.

Define a :class:`Job` in Python or load one from a file (:func:`load_job`), run it with
:func:`run_job` / :func:`arun_job` on the :class:`LocalExecutor` (default) or the
:class:`RayExecutor`, and read its :class:`JobResults`. Every trial is an ordinary stored
conversation plus a :class:`TrialRecord`; running the same job again resumes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acphost.jobs._loading import JobFileError, load_job, parse_job
from acphost.jobs._local import Executor, LocalExecutor
from acphost.jobs._report import to_csv, to_html, to_json
from acphost.jobs._results import AgentStats, JobResults, summarize, wilson_interval
from acphost.jobs._runner import JobProgress, arun_job, run_job
from acphost.jobs._schema import AgentConfig, Budget, Job, Task, WorkspaceSource
from acphost.jobs._store import JobRecord, JobStore, TrialRecord
from acphost.jobs._trial import TrialSpec, run_trial
from acphost.jobs._workspace import CommandSandbox, FolderSandbox, Sandbox, WorkspaceSetupError

if TYPE_CHECKING:
    from acphost.jobs._ray import RayExecutor

__all__ = (
    "AgentConfig",
    "AgentStats",
    "Budget",
    "CommandSandbox",
    "Executor",
    "FolderSandbox",
    "Job",
    "JobFileError",
    "JobProgress",
    "JobRecord",
    "JobResults",
    "JobStore",
    "LocalExecutor",
    "RayExecutor",
    "Sandbox",
    "Task",
    "TrialRecord",
    "TrialSpec",
    "WorkspaceSetupError",
    "WorkspaceSource",
    "arun_job",
    "load_job",
    "parse_job",
    "run_job",
    "run_trial",
    "summarize",
    "to_csv",
    "to_html",
    "to_json",
    "wilson_interval",
)


def __getattr__(name: str) -> Any:
    # Ray is an optional extra and heavy: imported only when its executor is asked for.
    if name == "RayExecutor":
        from acphost.jobs._ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'acphost.jobs' has no attribute {name!r}")
