"""The job endpoints of the server, over real HTTP, on a job run with the fake agent."""

from __future__ import annotations

from pathlib import Path

from acphost.jobs import AgentConfig, Job, Task, run_job
from acphost.testing import fake_agent_command
from jobs_support import writes
from test_server_support import server_and_client


def test_jobs_their_results_and_report_over_http(tmp_path: Path, store_path: Path) -> None:
    job = Job(
        name="served",
        agents=[
            AgentConfig(name="fake", command=fake_agent_command(writes(0.02), directory=tmp_path))
        ],
        tasks=[
            Task(id="ok", prompt="go", check="test -f out.txt"),
            Task(id="ko", prompt="go", check="false"),
        ],
    )
    run_job(job, store=store_path, workdir=tmp_path / "ws")
    with server_and_client(store_path) as (_, client):
        listed = client.get("/api/jobs").json()
        assert [(j["id"], j["status"], j["cells"], j["finished"], j["passed"]) for j in listed] == [
            ("served", "finished", 2, 2, 1)
        ]
        detail = client.get("/api/jobs/served").json()
        assert detail["definition"]["name"] == "served"
        outcomes = {t["task_id"]: t["outcome"] for t in detail["results"]["trials"]}
        assert outcomes == {"ok": "passed", "ko": "failed"}
        assert detail["results"]["stats"][0]["cost_per_solved"] == 0.04
        trial = detail["results"]["trials"][0]  # a trial is a conversation like any other
        conversation = client.get(f"/api/conversations/{trial['conversation_id']}")
        assert conversation.status_code == 200, conversation.text
        report = client.get("/api/jobs/served/report")
        assert report.headers["content-type"].startswith("text/html")
        assert "<svg" in report.text
        missing = client.get("/api/jobs/nope")
        assert (missing.status_code, missing.json()["code"]) == (404, "job_not_found")
        assert client.get("/api/jobs", headers={"X-API-Key": "wrong"}).status_code == 401


def test_a_store_without_jobs_lists_none(store_path: Path) -> None:
    with server_and_client(store_path) as (_, client):
        assert client.get("/api/jobs").json() == []
