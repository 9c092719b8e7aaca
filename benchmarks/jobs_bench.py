#!/usr/bin/env python3
"""Jobs: per-trial overhead of the local and Ray executors, and 1,000 trivial trials.

    python benchmarks/jobs_bench.py            # full: 1,000 trials each way; writes JOBS.md
    python benchmarks/jobs_bench.py --quick    # 100 trials, fewer overhead samples

Every trial is one trivial turn of ``storm_agent.py`` (one chunk, one usage update, end_turn)
in a fresh workspace: the agent costs almost nothing, so what is measured is acphost.

1. Per-trial overhead, one trial at a time: a bare loop (make a folder, ``Conversation(...)
   .run(prompt)``, close: the same agent, the same store) against a job of the same trials on
   the local executor, and on a Ray cluster of two nodes. The difference is what the executor
   adds per trial (workspace, records, check, and for Ray: scheduling, shipping events).
2. Throughput: 1,000 trials, 4 at a time, locally and on the two-node cluster (each node 1 CPU,
   a trial 0.5 CPU). Trials/s, scheduler overhead (per trial: the time trial slots were not
   running a trial, ``(wall × slots − Σ trial time) / trials``) and the peak RSS of the job
   process.

Each measurement runs in its own process (peak RSS is that process's). The Ray ones run in a
loopback-only network namespace (``unshare -n``, as root), as the Ray tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGENT = [sys.executable, str(HERE / "storm_agent.py")]
PROMPT = "storm:trivial:1"


def _job(n: int, concurrency: int, cpus: float) -> object:
    from acphost.jobs import AgentConfig, Job, Task

    return Job(
        name="bench",
        concurrency=concurrency,
        agents=[AgentConfig(name="storm", command=AGENT, cpus=cpus)],
        tasks=[Task(id=f"t{i}", prompt=PROMPT) for i in range(n)],
    )


def _bare(n: int, root: Path) -> dict[str, float]:
    from acphost import Conversation, SQLiteStore

    store = SQLiteStore(root / "bare.db")
    started = time.perf_counter()
    for i in range(n):
        workspace = root / "bare" / str(i)
        workspace.mkdir(parents=True)
        with Conversation(AGENT, workspace, store=store, permission="allow") as conversation:
            conversation.run(PROMPT)
    wall = time.perf_counter() - started
    store.close()
    return {"wall": wall, "per_trial_ms": wall / n * 1000}


def _cluster() -> tuple[object, object]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    return ray, cluster


def _job_run(n: int, concurrency: int, root: Path, ray: bool) -> dict[str, float]:
    from acphost.jobs import run_job

    executor = None
    if ray:
        from acphost.jobs import RayExecutor

        handle, cluster = _cluster()
        executor = RayExecutor()
        # warm the workers: the first tasks of a fresh cluster start its worker processes
        run_job(
            _job(8, concurrency, 0.5),
            store=root / "warm.db",
            workdir=root / "warm",  # type: ignore[arg-type]
            executor=executor,
        )
    started = time.perf_counter()
    results = run_job(
        _job(n, concurrency, 0.5),  # type: ignore[arg-type]
        store=root / "job.db",
        workdir=root / "ws",
        executor=executor,
    )
    wall = time.perf_counter() - started
    if ray:
        handle.shutdown()  # type: ignore[attr-defined]
        cluster.shutdown()  # type: ignore[attr-defined]
    passed = sum(t.outcome == "passed" for t in results.trials)
    busy = sum(t.wall_time for t in results.trials)
    nodes = len({t.node for t in results.trials})
    return {
        "wall": wall,
        "trials": len(results.trials),
        "passed": passed,
        "nodes": nodes,
        "per_trial_ms": wall / n * 1000,
        "trials_per_s": n / wall,
        "mean_trial_ms": busy / n * 1000,
        "scheduler_overhead_ms": (wall * concurrency - busy) / n * 1000,
    }


def _measure(mode: str, n: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="acphost-jobs-bench-") as tmp:
        root = Path(tmp)
        if mode == "bare":
            out = _bare(n, root)
        else:
            out = _job_run(n, concurrency, root, ray=mode == "ray")
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _child(mode: str, n: int, concurrency: int) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", mode, "-n", str(n), "-c", str(concurrency)]
    if mode == "ray":
        argv = ["unshare", "-n", "bash", "-c", 'ip link set lo up; exec "$0" "$@"', *argv]
    print(f"  {mode}: {n} trials, {concurrency} at a time...", file=sys.stderr, flush=True)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _report(results: dict[str, dict[str, float]], n: int, samples: int) -> str:
    bare = results["bare"]["per_trial_ms"]
    lines = [
        "# Jobs: executor overhead and throughput",
        "",
        f"`python benchmarks/jobs_bench.py` on {os.cpu_count()} cores shared with other work,",
        f"Python {sys.version.split()[0]}, at commit {_commit()}. A trial is one trivial turn",
        "of `storm_agent.py` in a fresh workspace. Method: see the script's docstring.",
        "",
        f"## Per-trial overhead ({samples} trials, one at a time)",
        "",
        "| | ms per trial | over the bare loop | ratio |",
        "|---|---:|---:|---:|",
        f"| bare loop (`Conversation.run`) | {bare:.1f} | – | 1.00 |",
    ]
    for mode, label in (("local1", "local executor"), ("ray1", "Ray executor (2 nodes)")):
        per = results[mode]["per_trial_ms"]
        lines.append(f"| {label} | {per:.1f} | {per - bare:+.1f} | {per / bare:.2f} |")
    lines += [
        "",
        f"## {n} trivial trials, 4 at a time",
        "",
        "| | trials/s | wall (s) | mean trial (ms) | scheduler overhead (ms/trial) "
        "| job process peak RSS (MiB) | nodes used |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, label in (("local", "local executor"), ("ray", "Ray, two nodes")):
        r = results[mode]
        lines.append(
            f"| {label} | {r['trials_per_s']:.1f} | {r['wall']:.1f} | {r['mean_trial_ms']:.0f} "
            f"| {r['scheduler_overhead_ms']:.1f} | {r['peak_rss_mib']:.0f} | {r['nodes']:.0f} |"
        )
    lines += [
        "",
        "Reading it: the local executor adds a few ms per trial to a bare loop (a workspace",
        "folder, two record writes, the trial's bookkeeping). The Ray executor adds Ray's task",
        "dispatch and the shipping of every write through the sink actor. On one machine its",
        'two "nodes" share the same cores with Ray\'s own processes (GCS, raylets, workers),',
        "so it cannot beat the local executor here: Ray is for going past one machine. The",
        "job process's memory stays flat over 1,000 trials (records are written, not kept).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=("bare", "local", "ray"))
    parser.add_argument("-n", type=int, default=0)
    parser.add_argument("-c", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "JOBS.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.n, args.c)))
        return
    n, samples = (100, 20) if args.quick else (1000, 100)
    results = {
        "bare": _child("bare", samples, 1),
        "local1": _child("local", samples, 1),
        "ray1": _child("ray", samples, 1),
        "local": _child("local", n, 4),
        "ray": _child("ray", n, 4),
    }
    for mode, figures in results.items():
        print(mode, json.dumps(figures), file=sys.stderr)
    report = _report(results, n, samples)
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
