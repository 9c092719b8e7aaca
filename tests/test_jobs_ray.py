"""The Ray executor on a real two-node Ray cluster (``ray.cluster_utils.Cluster``).

Run in a loopback-only network namespace (scripts/test.sh does it): there every node is
127.0.0.1 and nothing leaves the machine.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from acphost.jobs import (
    AgentConfig,
    Job,
    JobResults,
    JobStore,
    RayExecutor,
    Task,
    WorkspaceSource,
    run_job,
)
from acphost.store import ConversationRecord, EventRecord, SQLiteStore
from acphost.testing import Scenario, fake_agent_command
from jobs_support import DEADLINE, counting_agent, has_event, trial_row, wait_for, writes

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        pytest.skip(
            "Ray tests run in a loopback-only network namespace: "
            "unshare -n bash -c 'ip link set lo up; exec pytest -m ray'"
        )
    ray: Any = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster: Any = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=1, resources={"agent:x": 1})
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


def _events(db: Path, conversation_id: str | None) -> list[str]:
    with SQLiteStore(db) as store:
        return [e.kind for e in store.events(conversation_id or "")]


def test_trials_run_on_both_nodes_placed_by_resources(cluster: Any, tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    (source / "given.txt").write_text("from the job's machine")
    agent = fake_agent_command(writes(cost=0.01), directory=tmp_path)
    job = Job(
        name="spread",
        concurrency=4,
        agents=[
            AgentConfig(name="any", command=agent, cpus=1),
            AgentConfig(name="x", command=agent, cpus=0, resources={"agent:x": 1}),
        ],
        tasks=[
            Task(
                id=f"t{i}",
                prompt="go",
                workspace=WorkspaceSource(path=str(source)),
                check="test -f given.txt && test -f out.txt",
            )
            for i in range(4)
        ],
    )
    db = tmp_path / "s.db"
    results = run_job(job, store=db, workdir=tmp_path / "ws", executor=RayExecutor())
    assert [t.outcome for t in results.trials] == ["passed"] * 8
    cluster, worker_node = cluster
    head, worker = cluster.head_node.node_id, worker_node.node_id
    assert {t.node for t in results.trials if t.agent == "any"} == {head, worker}
    assert {t.node for t in results.trials if t.agent == "x"} == {worker}
    for trial in results.trials:  # each conversation came back to the job's store
        kinds = _events(db, trial.conversation_id)
        assert kinds.count("turn_ended") == 1
        assert "agent_message" in kinds
        assert trial.cost == 0.01


def test_a_trial_on_a_lost_node_is_retried_elsewhere(cluster: Any, tmp_path: Path) -> None:
    cluster, _ = cluster
    doomed = cluster.add_node(num_cpus=1, resources={"agent:slow": 1})
    job = Job(
        name="survives",
        agents=[
            AgentConfig(
                name="slow",
                command=counting_agent(tmp_path, hang_on=1),  # the first start hangs
                cpus=0,
                resources={"agent:slow": 1},
            )
        ],
        tasks=[Task(id="t", prompt="go", check="test -f out.txt")],
    )
    db = tmp_path / "s.db"
    results: list[JobResults] = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_job(job, store=db, workdir=tmp_path / "ws", executor=RayExecutor())
        )
    )
    runner.start()
    try:
        wait_for("the trial to run", lambda: (trial_row(db, "t") or {}).get("outcome") == "running")
        lost = (trial_row(db, "t") or {})["conversation_id"]
        # its events reach the job's store while it runs, not at its end
        wait_for("its tool call to be shipped", lambda: has_event(db, lost, "tool_call"))
        assert (trial_row(db, "t") or {})["node"] == doomed.node_id
        cluster.remove_node(doomed, allow_graceful=False)
        rescue = cluster.add_node(num_cpus=1, resources={"agent:slow": 1})
        runner.join(DEADLINE * 2)
        assert not runner.is_alive()
    finally:
        runner.join(DEADLINE * 2)
    (trial,) = results[0].trials
    assert trial.outcome == "passed", trial
    assert trial.node == rescue.node_id
    assert trial.previous == [lost]  # the conversation cut short by the lost node is kept
    assert "tool_call" in _events(db, lost)
    cluster.remove_node(rescue)


def test_many_trials_ship_every_event_in_order(cluster: Any, tmp_path: Path) -> None:
    """Ray may run an async actor's calls out of order: the job process restores each
    trial's order, so no write is refused and no event is lost."""
    busy = Scenario("busy").turn()
    for i in range(6):
        busy = busy.tool_call(f"c{i}", title=f"step {i}").tool_update(f"c{i}", status="completed")
    agent = fake_agent_command(
        busy.text("done").usage(used=1, size=9, cost=0.01).stop(), directory=tmp_path
    )
    job = Job(
        name="ordered",
        concurrency=4,
        agents=[AgentConfig(name="busy", command=agent, cpus=0.25)],
        tasks=[Task(id=f"t{i}", prompt="go") for i in range(24)],
    )
    db = tmp_path / "s.db"
    results = run_job(job, store=db, workdir=tmp_path / "ws", executor=RayExecutor())
    assert [t.outcome for t in results.trials] == ["passed"] * 24
    with SQLiteStore(db) as store:
        for trial in results.trials:
            seqs = [e.seq for e in store.events(trial.conversation_id or "")]
            assert seqs == list(range(1, len(seqs) + 1))
            kinds = [e.kind for e in store.events(trial.conversation_id or "")]
            assert kinds.count("tool_call") >= 6
            assert kinds.count("turn_ended") == 1


def test_shipped_writes_are_applied_in_the_order_they_were_made(tmp_path: Path) -> None:
    """The sink may hand a trial's writes over out of order (seen in the benchmark: a
    refused append, a trial's events lost); each try's writes are put back in order."""
    record = ConversationRecord("c", "a", "/w", None, "idle", 1.0, 1.0)
    rows = [
        astuple(EventRecord("c", seq, f"e{seq}", "agent_message", 1.0, b"{}"))
        for seq in (1, 2, 3, 4)
    ]
    items = [
        ("k", "try-1", 0, "create", astuple(record)),
        ("k", "try-1", 1, "append", rows[:2], None),
        ("k", "try-1", 2, "append", rows[2:], None),
    ]
    with JobStore(tmp_path / "s.db") as store:
        executor = RayExecutor()
        executor._store = store
        for item in reversed(items):
            executor._accept(item)
        assert [e.seq for e in store.events.events("c")] == [1, 2, 3, 4]
