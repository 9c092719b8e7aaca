"""acphost: a ``Conversation`` driven by ``run()`` or ``arun()``, SQLite store, one callback.

``permission="allow"``; the callback counts the events it is given, and the units each turn
surfaced (words, completed tool calls, decided permissions) are checked from them.
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


def units_of(event: Any, scenario: str) -> int:
    """What one delivered event counts for in this scenario (checked after each turn)."""
    kind = event.kind
    if scenario in ("chunks", "trivial"):
        return event.text.count("word") if kind == "agent_message" else 0
    if scenario == "tools":
        return int(kind == "tool_call" and event.status == "completed")
    if scenario == "perms":
        return int(kind == "permission_decided")
    return 0


class Counter:
    """The one callback: counts events, and the scenario's units of the current turn."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.events = 0
        self.units = 0

    def __call__(self, event: Any) -> None:
        self.events += 1
        self.units += units_of(event, self.scenario)

    def take_units(self) -> int:
        units, self.units = self.units, 0
        return units


def open_conversation(job: dict[str, Any], callback: Any) -> Conversation:
    store = os.path.join(job["workdir"], "acphost.db") if job.get("persist", True) else ":memory:"
    return Conversation(
        job["agent"], job["workdir"], store=store, callbacks=[callback], permission="allow"
    )


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("acphost", "agent-client-protocol", "pydantic")}


class Turns:
    """The measured turns of one job: time and units of each, until ``turns`` or the budget."""

    def __init__(self, job: dict[str, Any], counter: Counter, ready_s: float) -> None:
        self.job = job
        self.counter = counter
        self.ready_s = ready_s
        self.prompt = common.prompt_text(job["scenario"], job["n"])
        self.times: list[float] = []
        self.units: list[int] = []
        self.began = time.perf_counter()

    def more(self) -> bool:
        budget = self.job.get("budget_s")  # a time budget (the growth test) keeps what fits
        if budget is not None and self.times and time.perf_counter() - self.began > budget:
            return False
        return len(self.times) < self.job["turns"]

    def took(self, t0: float) -> None:
        self.times.append(time.perf_counter() - t0)
        self.units.append(self.counter.take_units())

    def result(self) -> dict[str, Any]:
        return {
            "import_s": IMPORT_S,
            "ready_s": self.ready_s,
            "turn_s": self.times,
            "units": self.units,
            "events": self.counter.events,
            "rss_end_mb": common.rss_mb(),
            "versions": versions(),
        }


def body_run(job: dict[str, Any]) -> dict[str, Any]:
    counter = Counter(job["scenario"])
    conversation = open_conversation(job, counter)
    conversation.start()
    ready_s = common.since_start()
    if job.get("warmup"):
        conversation.run(common.prompt_text("trivial", 1))
        counter.take_units()
    turns = Turns(job, counter, ready_s)
    while turns.more():
        t0 = time.perf_counter()
        conversation.run(turns.prompt)
        turns.took(t0)
    result = turns.result()
    conversation.close()
    return result


async def amain(job: dict[str, Any]) -> dict[str, Any]:
    counter = Counter(job["scenario"])
    conversation = open_conversation(job, counter)
    await asyncio.to_thread(conversation.start)
    ready_s = common.since_start()
    if job.get("warmup"):
        await conversation.arun(common.prompt_text("trivial", 1))
        counter.take_units()
    turns = Turns(job, counter, ready_s)
    while turns.more():
        t0 = time.perf_counter()
        await conversation.arun(turns.prompt)
        turns.took(t0)
    result = turns.result()
    await conversation.aclose()
    return result


def body(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("mode") == "arun":
        return asyncio.run(amain(job))
    return body_run(job)


if __name__ == "__main__":
    common.main(body)
