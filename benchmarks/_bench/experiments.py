"""The scenario families ``--only`` picks from: what each runs, through which drivers."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

from _bench.bench import Bench
from _bench.config import CONC_DRIVERS, STORM_DRIVERS, STORMS, WS_DRIVERS
from _bench.drivers import Driver
from _bench.env import log, openhands_python, run_python


def storms(bench: Bench) -> None:
    s = bench.sizes
    sizes = {"chunks": s.chunks, "tools": s.tools, "perms": s.perms}
    for key, _title, scenario, _unit, _per in STORMS:
        rounds = s.perms_rounds if key == "perms" else s.rounds
        bench.interleave(
            key, STORM_DRIVERS, bench.job(scenario, sizes[key], 1), rounds, s.timeout_s
        )


def trivial(bench: Bench) -> None:
    s = bench.sizes
    bench.interleave(
        "trivial",
        STORM_DRIVERS,
        bench.job("trivial", 1, s.trivial_turns),
        s.rounds,
        s.timeout_s,
    )


def growth(bench: Bench) -> None:
    s = bench.sizes
    budget = s.growth_openhands_budget_s

    def per_driver(key: str) -> dict[str, Any]:
        if key == "openhands":
            if budget <= 0:
                return {"skip": "skipped in --quick"}
            return {"budget_s": budget}
        if key == "openhands-persist":
            return {
                "skip": "one 2,000-call turn takes tens of seconds with its persistence"
                " (see the tool-call storm): 100 turns do not fit in the run"
                if not bench.quick
                else "skipped in --quick"
            }
        return {"budget_s": s.timeout_s * 2}

    bench.interleave(
        "growth",
        STORM_DRIVERS,
        bench.job("tools", s.growth_tools, s.growth_turns),
        min(s.rounds, s.growth_rounds),  # ``--rounds`` caps it too
        s.timeout_s * 3,
        per_driver,
    )


def concurrency(bench: Bench) -> None:
    """acphost and the bare SDK interleaved, per load: a target acphost misses back to back can
    then be read against what the machine allows a host with no state at all."""
    s = bench.sizes
    drivers = bench.drivers
    for key, label, script in CONC_DRIVERS:
        drivers[key] = Driver(
            key,
            f"{label} × N",
            script,
            bench.host_python,
            unavailable=drivers["acphost-run"].unavailable,  # same interpreter
        )
    keys = [key for key, *_ in CONC_DRIVERS]
    rounds = min(s.rounds, s.concurrent_rounds)  # ``--rounds`` caps it too
    for name, think in (("concurrent", 0.0), ("paced", s.paced_think_s)):
        job = bench.job(
            "trivial",
            1,
            s.concurrent_turns,
            conversations=s.conversations,
            think_s=think,
        )
        bench.interleave(name, keys, job, rounds, s.timeout_s * 2)


def imports(bench: Bench) -> None:
    """In-process import time, each in a fresh interpreter, interleaved, several runs."""
    oh_python, oh_reason = openhands_python()
    host = bench.host_python
    cases = [
        ("import acp", host, "import acp", None),
        ("import acphost", host, "import acphost", None),
        ("from acphost import Conversation", host, "from acphost import Conversation", None),
        ("import openhands.sdk", oh_python, "import openhands.sdk", oh_reason),
    ]
    times: dict[str, list[float]] = {label: [] for label, *_ in cases}
    errors: dict[str, str] = {}
    runs = bench.sizes.import_runs
    for r in range(runs):
        for label, python, stmt, reason in cases:
            if reason is not None:
                errors[label] = reason
                continue
            if label == "import openhands.sdk" and bench.quick and r > 0:
                continue  # ~7 s a run: once is enough for a smoke run
            code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
            try:
                done = run_python(python, code, cwd=tempfile.gettempdir())
                times[label].append(float(done.stdout.strip().splitlines()[-1]))
            except (subprocess.TimeoutExpired, ValueError, IndexError, OSError) as exc:
                errors[label] = f"failed: {exc}"
        log(f"[{bench.elapsed():6.1f}s] imports    run {r + 1}/{runs}")
    bench.results["imports"] = {"times": times, "errors": errors}


def ws(bench: Bench) -> None:
    """One tool-call storm fanned out by ``acphost serve`` to 1 and to N WebSocket subscribers,
    with the same storm in-process (``arun()``, no server) for context."""
    s = bench.sizes
    subscribers = {"ws-1": 1, "ws-n": s.ws_subscribers, "ws-n-plain": s.ws_subscribers}

    def per_driver(key: str) -> dict[str, Any]:
        if key not in subscribers:
            return {}
        return {"subscribers": subscribers[key], "storm_timeout_s": s.timeout_s - 30}

    job = bench.job("tools", s.ws_tools, 1)
    bench.interleave("ws", WS_DRIVERS, job, s.rounds, s.timeout_s, per_driver)


PARTS: dict[str, Callable[[Bench], None]] = {
    "storms": storms,
    "trivial": trivial,
    "growth": growth,
    "concurrency": concurrency,
    "imports": imports,
    "ws": ws,
}
