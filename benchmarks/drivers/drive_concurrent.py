"""acphost with many conversations in one process, all driven at once with ``arun()``.

First a single conversation runs ``turns`` turns alone (the baseline), then ``conversations``
conversations (each with its own agent process, one shared SQLite store, one callback each)
run ``turns`` turns each, concurrently on one asyncio loop: back to back (``think_s`` 0, the
worst case), or paced like users, with a random pause of 0..2*``think_s`` before each turn.
Reported: every turn's time in both phases, and this process's RSS (the host's own: the
agent processes are not counted).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib.metadata import version
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

t_import = time.perf_counter()
from acphost import Conversation  # noqa: E402
from acphost.store import SQLiteStore  # noqa: E402

IMPORT_S = time.perf_counter() - t_import


async def amain(job: dict[str, Any]) -> dict[str, Any]:
    store = SQLiteStore(os.path.join(job["workdir"], "acphost.db"))
    seen = [0]

    def callback(event: Any) -> None:
        seen[0] += 1

    def open_one() -> Conversation:
        conversation = Conversation(
            job["agent"], job["workdir"], store=store, callbacks=[callback], permission="allow"
        )
        conversation.start()
        return conversation

    prompt = common.prompt_text(job["scenario"], job["n"])
    warm = common.prompt_text("trivial", 1)
    turns = job["turns"]
    think = float(job.get("think_s", 0.0))
    rng = random.Random(1)

    # Phase 1: one conversation alone.
    single = await asyncio.to_thread(open_one)
    await single.arun(warm)
    single_times = await common.timed_turns(partial(single.arun, prompt), turns, think, rng)
    await single.aclose()
    rss_single = common.rss_mb()

    # Phase 2: many at once (started a few at a time: spawning is not what is measured).
    count = job["conversations"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        loop = asyncio.get_running_loop()
        conversations = await asyncio.gather(
            *(loop.run_in_executor(pool, open_one) for _ in range(count))
        )
    start_s = time.perf_counter() - t0
    await asyncio.gather(*(c.arun(warm) for c in conversations))
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(common.timed_turns(partial(c.arun, prompt), turns, think, rng) for c in conversations)
    )
    wall_s = time.perf_counter() - t0
    rss_many = common.rss_mb()
    maxrss_many = common.maxrss_mb()
    await asyncio.gather(*(c.aclose() for c in conversations))
    many_times = [t for times in results for t in times]
    return {
        "import_s": IMPORT_S,
        "single_turn_s": single_times,
        "many_turn_s": many_times,
        "conversations": count,
        "think_s": think,
        "start_all_s": start_s,
        "wall_s": wall_s,
        "rss_single_mb": rss_single,
        "rss_many_mb": rss_many,
        "maxrss_many_mb": maxrss_many,
        "events": seen[0],
        "versions": {"acphost": version("acphost")},
    }


def body(job: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(amain(job))


if __name__ == "__main__":
    common.main(body)
