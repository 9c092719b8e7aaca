"""The floor for a typed host: the bare official SDK (``acp``) client.

Its ``session_update`` only appends each (pydantic-typed) update to a list and its permission
handler answers allow; no state, no store. A turn is ``await conn.prompt(...)``, which returns
once the prompt's response and every update handler started before it have completed.
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
import acp  # noqa: E402
from acp import schema  # noqa: E402

IMPORT_S = time.perf_counter() - t_import


class Client:
    """Implements only what the storm agent uses; missing methods answer -32601."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.permissions = 0

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)

    async def request_permission(
        self,
        session_id: str,
        tool_call: schema.ToolCallUpdate,
        options: list[schema.PermissionOption],
        **kwargs: Any,
    ) -> schema.RequestPermissionResponse:
        self.permissions += 1
        return schema.RequestPermissionResponse(
            outcome=schema.AllowedOutcome(outcome="selected", option_id=options[0].option_id)
        )


def units_of(client: Client, start: int, scenario: str) -> int:
    updates = client.updates[start:]
    if scenario in ("chunks", "trivial"):
        return sum(1 for u in updates if isinstance(u, schema.AgentMessageChunk))
    if scenario == "tools":
        return sum(
            1 for u in updates if isinstance(u, schema.ToolCallProgress) and u.status == "completed"
        )
    return 0


async def amain(job: dict[str, Any]) -> dict[str, Any]:
    client = Client()
    command = job["agent"]
    async with acp.spawn_agent_process(client, command[0], *command[1:], cwd=job["workdir"]) as (
        conn,
        _process,
    ):
        await conn.initialize(
            protocol_version=acp.PROTOCOL_VERSION,
            client_capabilities=schema.ClientCapabilities(),
            client_info=schema.Implementation(name="bench", version="1"),
        )
        session = await conn.new_session(cwd=job["workdir"], mcp_servers=[])
        ready_s = common.since_start()

        async def turn(text: str) -> None:
            await conn.prompt(session_id=session.session_id, prompt=[acp.text_block(text)])

        if job.get("warmup"):
            await turn(common.prompt_text("trivial", 1))
        prompt = common.prompt_text(job["scenario"], job["n"])
        times: list[float] = []
        units: list[int] = []
        budget = job.get("budget_s")
        began = time.perf_counter()
        for _ in range(job["turns"]):
            start, permissions = len(client.updates), client.permissions
            t0 = time.perf_counter()
            await turn(prompt)
            times.append(time.perf_counter() - t0)
            if job["scenario"] == "perms":
                units.append(client.permissions - permissions)
            else:
                units.append(units_of(client, start, job["scenario"]))
            if budget is not None and time.perf_counter() - began > budget:
                break  # a time budget (the growth test) keeps what fits
        rss = common.rss_mb()
    return {
        "import_s": IMPORT_S,
        "ready_s": ready_s,
        "turn_s": times,
        "units": units,
        "rss_end_mb": rss,
        "versions": {"agent-client-protocol": version("agent-client-protocol")},
    }


def body(job: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(amain(job))


if __name__ == "__main__":
    common.main(body)
