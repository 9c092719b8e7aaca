"""acphost: a ``Conversation`` driven by ``run()`` or ``arun()``, SQLite store, one callback.

``permission="allow"``; the callback counts events. What the host surfaced is checked from
``conversation.state.events`` after each turn, outside the timing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

t_import = time.perf_counter()
from acphost import Conversation  # noqa: E402

IMPORT_S = time.perf_counter() - t_import


def units_of(events: list[Any], scenario: str) -> int:
    if scenario in ("chunks", "trivial"):
        return sum(e.text.count("word") for e in events if e.kind == "agent_message")
    if scenario == "tools":
        return sum(1 for e in events if e.kind == "tool_call" and e.status == "completed")
    if scenario == "perms":
        return sum(1 for e in events if e.kind == "permission_decided")
    return 0


def open_conversation(job: dict[str, Any], callback: Any) -> Conversation:
    store = os.path.join(job["workdir"], "acphost.db") if job.get("persist", True) else ":memory:"
    return Conversation(
        job["agent"], job["workdir"], store=store, callbacks=[callback], permission="allow"
    )


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("acphost", "agent-client-protocol", "pydantic")}


def body_run(job: dict[str, Any]) -> dict[str, Any]:
    seen = [0]

    def callback(event: Any) -> None:
        seen[0] += 1

    conversation = open_conversation(job, callback)
    conversation.start()
    ready_s = common.since_start()
    if job.get("warmup"):
        conversation.run(common.prompt_text("trivial", 1))
    prompt = common.prompt_text(job["scenario"], job["n"])
    times: list[float] = []
    units: list[int] = []
    budget = job.get("budget_s")
    began = time.perf_counter()
    for _ in range(job["turns"]):
        first = len(conversation.state.events)
        t0 = time.perf_counter()
        conversation.run(prompt)
        times.append(time.perf_counter() - t0)
        units.append(units_of(conversation.state.events[first:], job["scenario"]))
        if budget is not None and time.perf_counter() - began > budget:
            break  # a time budget (the growth test) keeps what fits
    rss = common.rss_mb()
    conversation.close()
    return {
        "import_s": IMPORT_S,
        "ready_s": ready_s,
        "turn_s": times,
        "units": units,
        "events": seen[0],
        "rss_end_mb": rss,
        "versions": versions(),
    }


async def amain(job: dict[str, Any]) -> dict[str, Any]:
    seen = [0]

    def callback(event: Any) -> None:
        seen[0] += 1

    conversation = open_conversation(job, callback)
    await asyncio.to_thread(conversation.start)
    ready_s = common.since_start()
    if job.get("warmup"):
        await conversation.arun(common.prompt_text("trivial", 1))
    prompt = common.prompt_text(job["scenario"], job["n"])
    times: list[float] = []
    units: list[int] = []
    budget = job.get("budget_s")
    began = time.perf_counter()
    for _ in range(job["turns"]):
        first = len(conversation.state.events)
        t0 = time.perf_counter()
        await conversation.arun(prompt)
        times.append(time.perf_counter() - t0)
        units.append(units_of(conversation.state.events[first:], job["scenario"]))
        if budget is not None and time.perf_counter() - began > budget:
            break  # a time budget (the growth test) keeps what fits
    rss = common.rss_mb()
    await conversation.aclose()
    return {
        "import_s": IMPORT_S,
        "ready_s": ready_s,
        "turn_s": times,
        "units": units,
        "events": seen[0],
        "rss_end_mb": rss,
        "versions": versions(),
    }


def body(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("mode") == "arun":
        return asyncio.run(amain(job))
    return body_run(job)


if __name__ == "__main__":
    common.main(body)
