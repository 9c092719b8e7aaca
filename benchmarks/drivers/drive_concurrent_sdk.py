"""The bare official SDK (``acp``) with many connections in one process: the peer of
``drive_concurrent.py``, so its figures for N conversations have a floor beside them.

Same job, phases and result keys as ``drive_concurrent.py``: first one connection alone runs
``turns`` turns (the baseline), then ``conversations`` connections (each with its own agent
process, spawned with ``acp.spawn_agent_process``) run ``turns`` turns each, concurrently on one
asyncio loop: back to back (``think_s`` 0) or paced, with the same pauses drawn from the same
RNG. Each connection has its own client, ``drive_sdk.py``'s: ``session_update`` appends the
update to a list, permissions are allowed. No persistence and no callback (the SDK has neither):
what is left is the SDK's own cost of a turn, so acphost's overhead can be read against the
machine's, not against zero. ``events`` counts the session updates received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

t_import = time.perf_counter()
import acp  # noqa: E402
from acp import schema  # noqa: E402
from acp.client.connection import ClientSideConnection  # noqa: E402

IMPORT_S = time.perf_counter() - t_import

from drive_sdk import Client  # noqa: E402  (the same client as the storms' bare SDK)


@dataclass
class Peer:
    """One open connection: its agent process stays up until ``stack`` is closed."""

    stack: contextlib.AsyncExitStack[bool | None]
    conn: ClientSideConnection
    session_id: str
    client: Client

    async def turn(self, text: str) -> None:
        await self.conn.prompt(session_id=self.session_id, prompt=[acp.text_block(text)])


async def open_one(job: dict[str, Any]) -> Peer:
    stack = contextlib.AsyncExitStack()
    client = Client()
    command = job["agent"]
    try:
        conn, _process = await stack.enter_async_context(
            acp.spawn_agent_process(client, command[0], *command[1:], cwd=job["workdir"])
        )
        await conn.initialize(
            protocol_version=acp.PROTOCOL_VERSION,
            client_capabilities=schema.ClientCapabilities(),
            client_info=schema.Implementation(name="bench", version="1"),
        )
        session = await conn.new_session(cwd=job["workdir"], mcp_servers=[])
    except BaseException:
        await stack.aclose()
        raise
    return Peer(stack, conn, session.session_id, client)


async def amain(job: dict[str, Any]) -> dict[str, Any]:
    prompt = common.prompt_text(job["scenario"], job["n"])
    warm = common.prompt_text("trivial", 1)
    turns = job["turns"]
    think = float(job.get("think_s", 0.0))
    rng = random.Random(1)

    # Phase 1: one connection alone.
    single = await open_one(job)
    await single.turn(warm)
    single_times = await common.timed_turns(partial(single.turn, prompt), turns, think, rng)
    events = len(single.client.updates)
    await single.stack.aclose()
    rss_single = common.rss_mb()

    # Phase 2: many at once (spawned 8 at a time, like drive_concurrent's thread pool:
    # spawning is not what is measured).
    count = job["conversations"]
    gate = asyncio.Semaphore(8)

    async def gated() -> Peer:
        async with gate:
            return await open_one(job)

    t0 = time.perf_counter()
    opened = await asyncio.gather(*(gated() for _ in range(count)), return_exceptions=True)
    start_s = time.perf_counter() - t0
    peers = [p for p in opened if isinstance(p, Peer)]
    try:
        failed = [e for e in opened if isinstance(e, BaseException)]
        if failed:
            raise failed[0]
        await asyncio.gather(*(p.turn(warm) for p in peers))
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(common.timed_turns(partial(p.turn, prompt), turns, think, rng) for p in peers)
        )
        wall_s = time.perf_counter() - t0
        rss_many = common.rss_mb()
        maxrss_many = common.maxrss_mb()
    finally:
        await asyncio.gather(*(p.stack.aclose() for p in peers), return_exceptions=True)
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
        "events": events + sum(len(p.client.updates) for p in peers),
        "versions": {"agent-client-protocol": version("agent-client-protocol")},
    }


def body(job: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(amain(job))


if __name__ == "__main__":
    common.main(body)
