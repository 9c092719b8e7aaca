"""Jobs on the local executor, with the fake agent (a real ACP subprocess) and real SQLite."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from acphost.jobs import (
    AgentConfig,
    Budget,
    Job,
    JobStore,
    Task,
    TrialRecord,
    WorkspaceSource,
    load_job,
    run_job,
)
from acphost.store import SQLiteStore
from acphost.testing import Scenario, fake_agent_command
from jobs_support import (
    HANGS,
    counting_agent,
    has_event,
    starts,
    trial_row,
    wait_for,
    writes,
)


def _job(tmp_path: Path, scenario: Scenario | list[str], **fields: object) -> Job:
    command = (
        scenario if isinstance(scenario, list) else fake_agent_command(scenario, directory=tmp_path)
    )
    options: dict[str, object] = {
        "name": "j",
        "tasks": [Task(id="t1", prompt="write out.txt", check="test -f out.txt")],
        "agents": [AgentConfig(name="fake", command=command)],
        "retry_backoff": 0,
    }
    options.update(fields)
    return Job.model_validate(options)


def _kinds(store: Path, conversation_id: str | None) -> list[str]:
    assert conversation_id is not None
    with SQLiteStore(store) as events:
        return [e.kind for e in events.events(conversation_id)]


def _run(tmp_path: Path, job: Job) -> list[TrialRecord]:
    results = run_job(job, store=tmp_path / "s.db", workdir=tmp_path / "ws")
    return results.trials


def test_a_passing_and_a_failing_check(tmp_path: Path) -> None:
    job = _job(
        tmp_path,
        writes(cost=0.02),
        tasks=[
            Task(id="pass", prompt="go", check="test -f out.txt && echo 'score: 0.75'"),
            Task(id="fail", prompt="go", check="test -f missing.txt"),
        ],
    )
    by_task = {t.task_id: t for t in _run(tmp_path, job)}
    assert by_task["pass"].outcome == "passed"
    assert by_task["pass"].score == 0.75
    assert by_task["pass"].cost == 0.02
    assert by_task["pass"].turns == 1
    assert (by_task["fail"].outcome, by_task["fail"].check_exit) == ("failed", 1)
    # the trial is an ordinary stored conversation, in its own fresh workspace
    kinds = _kinds(tmp_path / "s.db", by_task["pass"].conversation_id)
    assert "agent_message" in kinds
    assert kinds[-1] == "status_changed"
    with SQLiteStore(tmp_path / "s.db") as events:
        record = events.get_conversation(by_task["pass"].conversation_id or "")
    assert record is not None
    assert record.workspace.endswith("/j/pass/fake/1.1")
    assert (Path(record.workspace) / "out.txt").read_text() == "done"


def test_run_job_blocks_where_an_event_loop_already_runs(tmp_path: Path) -> None:
    # A notebook cell, or sync code called from async code: asyncio.run() refuses to run there.
    async def notebook_cell() -> list[TrialRecord]:
        return _run(tmp_path, _job(tmp_path, writes()))

    (trial,) = asyncio.run(notebook_cell())
    assert trial.outcome == "passed"


def test_a_crash_after_the_agent_did_something_is_an_error_and_not_retried(
    tmp_path: Path,
) -> None:
    (trial,) = _run(tmp_path, _job(tmp_path, Scenario("c").turn().text("hi").crash(3)))
    assert trial.outcome == "error"
    assert trial.error is not None
    assert trial.error["code"] == "agent_exited"
    assert (trial.tries, trial.previous) == (1, [])


def test_a_hanging_agent_is_timed_out_by_the_task_timeout(tmp_path: Path) -> None:
    hang = Scenario("hang").turn().text("thinking").sleep(120).stop()
    job = _job(tmp_path, hang, tasks=[Task(id="t1", prompt="go", timeout=1.5, check="true")])
    (trial,) = _run(tmp_path, job)
    assert trial.outcome == "timed_out"
    assert trial.error is not None
    assert trial.error["code"] == "timeout"
    kinds = _kinds(tmp_path / "s.db", trial.conversation_id)
    assert "turn_ended" in kinds  # the turn was cancelled cleanly and recorded


def test_a_trial_at_its_budget_is_interrupted_and_over_budget(tmp_path: Path) -> None:
    pricey = Scenario("p").turn().text("spending").usage(used=1, size=9, cost=0.5).sleep(120)
    job = _job(tmp_path, pricey.stop(), budget=Budget(trial=0.25))
    (trial,) = _run(tmp_path, job)
    assert (trial.outcome, trial.cost, trial.stop_reason) == ("over_budget", 0.5, "cancelled")


def test_a_job_at_its_budget_starts_no_new_trial(tmp_path: Path) -> None:
    job = _job(
        tmp_path,
        writes(cost=0.2),
        tasks=[Task(id=f"t{i}", prompt="go") for i in range(1, 4)],
        budget=Budget(job=0.3),
        concurrency=1,
    )
    trials = _run(tmp_path, job)
    assert [t.task_id for t in trials] == ["t1", "t2"]
    with JobStore(tmp_path / "s.db") as store:
        stored = store.get_job("j")
    assert stored is not None
    assert stored.status == "budget_reached"


def test_an_infrastructure_failure_with_no_effect_is_retried(tmp_path: Path) -> None:
    (trial,) = _run(tmp_path, _job(tmp_path, counting_agent(tmp_path, fail_first=2), retries=2))
    assert (trial.outcome, trial.tries, len(trial.previous)) == ("passed", 3, 2)
    for conversation_id in trial.previous:  # the failed tries are recorded, not lost
        assert "error" in _kinds(tmp_path / "s.db", conversation_id)


def test_retries_are_bounded(tmp_path: Path) -> None:
    (trial,) = _run(tmp_path, _job(tmp_path, counting_agent(tmp_path, fail_first=5), retries=1))
    assert (trial.outcome, trial.tries) == ("error", 2)
    assert trial.error is not None
    assert trial.error["retryable"]


_KILLABLE = """
import sys
from acphost.jobs import load_job, run_job
run_job(load_job(sys.argv[1]), store=sys.argv[2], workdir=sys.argv[3])
"""


def test_resume_after_the_job_process_is_killed(tmp_path: Path) -> None:
    agent = counting_agent(tmp_path, hang_on=2)  # the second start (task t2's first) hangs
    job_file = tmp_path / "job.toml"
    tasks = "".join(
        f'[[tasks]]\nid = "t{i}"\nprompt = "go"\ncheck = "test -f out.txt"\n' for i in (1, 2, 3)
    )
    job_file.write_text(
        f'name = "killed"\nconcurrency = 1\n'
        f'[[agents]]\nname = "fake"\ncommand = {orjson.dumps(agent).decode()}\n{tasks}'
    )
    db, ws = tmp_path / "s.db", tmp_path / "ws"
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(job_file), str(db), str(ws)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("t2 to run", lambda: (trial_row(db, "t2") or {}).get("outcome") == "running")
        killed_id = (trial_row(db, "t2") or {})["conversation_id"]
        wait_for("t2's tool call", lambda: has_event(db, killed_id, "tool_call"))
        first = trial_row(db, "t1")
        assert first is not None
        assert first["outcome"] == "passed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    results = run_job(load_job(job_file), store=db, workdir=ws)
    by_task = {t.task_id: t for t in results.trials}
    assert {t: r.outcome for t, r in by_task.items()} == dict.fromkeys(("t1", "t2", "t3"), "passed")
    assert by_task["t1"].conversation_id == first["conversation_id"]  # skipped, not run again
    assert by_task["t2"].previous == [killed_id]  # the cut-short conversation is kept
    assert by_task["t2"].tries == 2
    with SQLiteStore(db) as events:  # in a workspace of its own, the killed one's left as it was
        workspaces = {
            events.get_conversation(c).workspace.rsplit("/", 1)[-1]  # type: ignore[union-attr]
            for c in (killed_id, by_task["t2"].conversation_id or "")
        }
    assert workspaces == {"1.1", "1.2"}
    assert has_event(db, killed_id, "tool_call")
    assert starts(tmp_path) == 4  # t1, t2 (killed), t2 again, t3


def test_running_a_finished_job_again_runs_nothing(tmp_path: Path) -> None:
    job = _job(tmp_path, writes(), attempts=2)
    first = _run(tmp_path, job)
    again = _run(tmp_path, job)
    assert [t.conversation_id for t in again] == [t.conversation_id for t in first]
    assert [t.attempt for t in again] == [1, 2]


def test_per_agent_concurrency_and_a_multi_turn_task(tmp_path: Path) -> None:
    two_turns = Scenario("two").turn().text("one").stop().turn().text("two").stop()
    job = _job(
        tmp_path,
        two_turns,
        tasks=[Task(id="t1", prompt=["first", "second"], check="true")],
        agents=[
            AgentConfig(
                name="fake",
                command=fake_agent_command(two_turns, directory=tmp_path),
                concurrency=1,
            )
        ],
        attempts=3,
    )
    trials = _run(tmp_path, job)
    assert [(t.outcome, t.turns) for t in trials] == [("passed", 2)] * 3
    spans = sorted((t.started_at, t.ended_at or 0) for t in trials)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time


def test_a_broken_task_is_an_error_of_its_own_trial(tmp_path: Path) -> None:
    job = _job(
        tmp_path,
        writes(),
        tasks=[
            Task(id="setup", prompt="go", setup="echo broken >&2; exit 4"),
            Task(id="folder", prompt="go", workspace=WorkspaceSource(path=str(tmp_path / "no"))),
            Task(id="fine", prompt="go", check="test -f out.txt"),
        ],
    )
    by_task = {t.task_id: t for t in _run(tmp_path, job)}
    assert by_task["fine"].outcome == "passed"
    for task in ("setup", "folder"):
        error = by_task[task].error
        assert by_task[task].outcome == "error"
        assert error is not None
        assert error["code"] == "workspace_setup_failed"
        assert by_task[task].conversation_id is None  # it never began
    assert "broken" in (by_task["setup"].error or {})["message"]


def test_ctrl_c_in_a_notebook_cell_cancels_the_job_and_records_it(tmp_path: Path) -> None:
    # A notebook's loop installs no SIGINT handler: Ctrl-C is a KeyboardInterrupt in the cell.
    db = tmp_path / "s.db"

    def ctrl_c_once_the_trial_runs() -> None:
        wait_for("t1 to run", lambda: (trial_row(db, "t1") or {}).get("outcome") == "running")
        hung = (trial_row(db, "t1") or {})["conversation_id"]
        wait_for("the tool call", lambda: has_event(db, hung, "tool_call"))
        signal.pthread_kill(main, signal.SIGINT)  # a real signal: it wakes a blocked wait

    async def notebook_cell() -> list[TrialRecord]:
        return _run(tmp_path, _job(tmp_path, HANGS))

    main = threading.get_ident()
    threading.Thread(target=ctrl_c_once_the_trial_runs, daemon=True).start()
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(notebook_cell())
    finally:
        loop.close()
    trial = trial_row(db, "t1")
    assert trial is not None
    assert trial["outcome"] == "cancelled"
    assert has_event(db, trial["conversation_id"], "turn_ended")
