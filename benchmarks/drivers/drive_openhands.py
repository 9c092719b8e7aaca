"""OpenHands software-agent-sdk: ``ACPAgent`` + ``LocalConversation``, the system acphost descends
from. Runs under its own Python 3.12 venv (``benchmarks/.venv-openhands``, see ``setup.sh``).

``persist`` true gives the conversation a ``persistence_dir`` (an event-per-file JSON log on
disk, OpenHands' own persistence); false leaves it on its in-memory file store. One callback
counts events; no visualizer. Logging stays at OpenHands' defaults (what a user gets).
A turn is ``send_message(prompt)`` then ``run()``; the session is started before the first
turn with the same call ``run()`` makes (``_ensure_agent_ready``).
"""

from __future__ import annotations

import os
import sys
import time
from importlib.metadata import version
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

t_import = time.perf_counter()
from openhands.sdk import LocalConversation  # noqa: E402
from openhands.sdk.agent import ACPAgent  # noqa: E402

IMPORT_S = time.perf_counter() - t_import


def units_of(events: list[Any], scenario: str) -> int:
    if scenario in ("chunks", "trivial"):
        total = 0
        for event in events:
            action = getattr(event, "action", None)
            message = getattr(action, "message", None)
            if isinstance(message, str):
                total += message.count("word")
        return total
    if scenario == "tools":
        return sum(
            1
            for e in events
            if type(e).__name__ == "ACPToolCallEvent" and getattr(e, "status", None) == "completed"
        )
    return 0  # OpenHands auto-approves permissions without recording them


def body(job: dict[str, Any]) -> dict[str, Any]:
    seen: list[Any] = []

    agent = ACPAgent(acp_command=job["agent"])
    persistence = os.path.join(job["workdir"], "openhands") if job.get("persist") else None
    conversation = LocalConversation(
        agent=agent,
        workspace=job["workdir"],
        persistence_dir=persistence,
        callbacks=[seen.append],
        visualizer=None,
        delete_on_close=False,
    )
    conversation._ensure_agent_ready()  # spawn + initialize + session/new, as run() would
    ready_s = common.since_start()

    def turn(text: str) -> None:
        conversation.send_message(text)
        conversation.run()

    if job.get("warmup"):
        turn(common.prompt_text("trivial", 1))
    prompt = common.prompt_text(job["scenario"], job["n"])
    times: list[float] = []
    units: list[int] = []
    budget = job.get("budget_s")
    began = time.perf_counter()
    for _ in range(job["turns"]):
        first = len(seen)
        t0 = time.perf_counter()
        turn(prompt)
        times.append(time.perf_counter() - t0)
        units.append(units_of(seen[first:], job["scenario"]))
        if budget is not None and time.perf_counter() - began > budget:
            break  # the growth test keeps what fits in its time budget
    rss = common.rss_mb()
    conversation.close()
    return {
        "import_s": IMPORT_S,
        "ready_s": ready_s,
        "turn_s": times,
        "units": units,
        "events": len(seen),
        "rss_end_mb": rss,
        "versions": {
            "openhands-sdk": version("openhands-sdk"),
            "agent-client-protocol": version("agent-client-protocol"),
            "pydantic": version("pydantic"),
        },
    }


if __name__ == "__main__":
    common.main(body)
