"""What every driver shares: the job it was given, timing, memory, and how it reports.

Standard library only: the OpenHands driver imports this under its own Python 3.12 venv.

A driver is started by ``run.py`` as ``python drivers/drive_X.py '<job JSON>'`` in its own
process (so its peak RSS is its own) and prints one line ``RESULT {...}`` on stdout at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

STARTED = time.perf_counter()  # as early as the driver can take it: before the library import


def job() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    return spec


def maxrss_mb() -> float:
    """Peak RSS of this process only (children, i.e. the agents, are not counted)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Current RSS of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def since_start() -> float:
    return time.perf_counter() - STARTED


def emit(result: dict[str, Any]) -> None:
    result.setdefault("maxrss_mb", round(maxrss_mb(), 2))
    result.setdefault("python", sys.version.split()[0])
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(body: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Run ``body(job)``; report its result, or the error that stopped it."""
    spec = job()
    try:
        result = body(spec)
    except BaseException as exc:  # report, never hang or die silently
        emit(
            {
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                "traceback": traceback.format_exc()[-3000:],
            }
        )
        sys.stdout.flush()
        os._exit(1)
    emit(result)
    sys.stdout.flush()
    sys.stderr.flush()
    # Some hosts leave non-daemon threads or atexit work behind; the measurement is done.
    os._exit(0)


async def timed_turns(
    turn: Callable[[], Awaitable[object]], turns: int, think_s: float, rng: random.Random
) -> list[float]:
    """``turns`` turns, each timed; with ``think_s`` > 0 a pause of 0..2*think_s before each
    (a user). The concurrency drivers of every host share it, so they pace alike."""
    times = []
    for _ in range(turns):
        if think_s > 0:
            await asyncio.sleep(rng.uniform(0, 2 * think_s))
        t0 = time.perf_counter()
        await turn()
        times.append(time.perf_counter() - t0)
    return times


def prompt_text(scenario: str, n: int) -> str:
    return f"storm:{scenario}:{n}"


class Units:
    """Counts, per turn, what a host surfaced to its user: the check that nothing was lost."""

    def __init__(self) -> None:
        self.chunks = 0
        self.completed = 0
        self.permissions = 0

    def of(self, scenario: str) -> int:
        if scenario in ("chunks", "trivial"):
            return self.chunks
        if scenario == "tools":
            return self.completed
        if scenario == "perms":
            return self.permissions
        return 0

    def reset(self) -> None:
        self.chunks = self.completed = self.permissions = 0
