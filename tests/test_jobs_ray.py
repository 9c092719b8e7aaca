"""The Ray executor on a real two-node Ray cluster (``ray.cluster_utils.Cluster``).

Run in a loopback-only network namespace (scripts/test.sh does it): there every node is
127.0.0.1 and nothing leaves the machine.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.jobs import (
    AgentConfig,
    Job,
    JobResults,
    RayExecutor,
    Task,
    WorkspaceSource,
    run_job,
)
from acphost.store import SQLiteStore
from acphost.testing import fake_agent_command
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
