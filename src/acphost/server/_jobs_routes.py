"""The job endpoints under ``/api/jobs``: stored jobs, their results, their HTML report.

Jobs are run by ``acphost jobs run`` or the Python API; the server reads what they stored in
its SQLite store (the ``jobs`` and ``job_trials`` tables beside the conversations). Every trial
names its conversation: ``/api/conversations/{id}`` shows it like any other.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from acphost.jobs import Job, JobResults, JobStore, summarize, to_html
from acphost.server._errors import ApiError
from acphost.server._manager import Manager
from acphost.server._models import ErrorBody
from acphost.store import SQLiteStore

__all__ = ["JobDetail", "JobSummary", "jobs_router"]

JobId = Annotated[str, Path(min_length=1, max_length=200)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorBody,
        "description": "No such job (code `job_not_found`), or a store that keeps no jobs"
        " (code `jobs_unavailable`)",
    }
}


class JobSummary(BaseModel):
    """A stored job and how far it got."""

    id: str
    status: str
    tasks: int
    agents: list[str]
    cells: int
    finished: int
    passed: int
    created_at: float
    updated_at: float


class JobDetail(JobSummary):
    """A job's definition and results: every trial, the grid, per-agent statistics."""

    definition: Job
    results: JobResults


def _open(manager: Manager) -> JobStore:
    store = manager.store
    if not isinstance(store, SQLiteStore) or store.path == ":memory:":
        raise ApiError(
            404,
            "jobs_unavailable",
            "this server's store keeps no jobs",
            hint="jobs live in a SQLite store file; serve one with --store",
        )
    return JobStore(store.path)


def _detail(manager: Manager, job_id: str) -> JobDetail:
    with _open(manager) as jobs:
        record = jobs.get_job(job_id)
        if record is None:
            raise ApiError(
                404,
                "job_not_found",
                f"no job {job_id!r}",
                hint="GET /api/jobs lists the stored jobs",
            )
        results = summarize(record.job, jobs.trials(job_id))
    return JobDetail(
        **_summary(
            record.id, record.status, record.job, results, record.created_at, record.updated_at
        ).model_dump(),
        definition=record.job,
        results=results,
    )


def _summary(
    id: str, status: str, job: Job, results: JobResults, created: float, updated: float
) -> JobSummary:
    return JobSummary(
        id=id,
        status=status,
        tasks=len(job.tasks),
        agents=[a.name for a in job.agents],
        cells=len(job.cells()),
        finished=sum(t.finished for t in results.trials),
        passed=sum(t.outcome == "passed" for t in results.trials),
        created_at=created,
        updated_at=updated,
    )


def _list(manager: Manager) -> list[JobSummary]:
    with _open(manager) as jobs:
        return [
            _summary(
                r.id,
                r.status,
                r.job,
                summarize(r.job, jobs.trials(r.id)),
                r.created_at,
                r.updated_at,
            )
            for r in jobs.list_jobs()
        ]


def jobs_router(manager: Manager) -> APIRouter:
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs", response_model=list[JobSummary], responses=NOT_FOUND)
    async def list_jobs() -> list[JobSummary]:
        """Stored jobs, most recently updated first."""
        return await asyncio.to_thread(_list, manager)

    @router.get("/jobs/{job_id}", response_model=JobDetail, responses=NOT_FOUND)
    async def get_job(job_id: JobId) -> JobDetail:
        """A job's definition, every trial (with its conversation's id) and the statistics."""
        return await asyncio.to_thread(_detail, manager, job_id)

    @router.get(
        "/jobs/{job_id}/report",
        response_model=None,
        responses={
            **NOT_FOUND,
            200: {
                "description": "One HTML page, no external resource",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
        },
    )
    async def job_report(job_id: JobId) -> HTMLResponse:
        """The job's self-contained HTML report (charts, statistics, the grid)."""
        detail = await asyncio.to_thread(_detail, manager, job_id)
        return HTMLResponse(to_html(detail.results))

    return router
