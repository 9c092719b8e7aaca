"""acphost's server fanning one storm out to many WebSocket subscribers of one conversation.

The server is a real subprocess (``python -m acphost.server``, uvicorn on a free loopback port,
no key, its own SQLite store), so the subscribers' cost does not share its GIL. This process
creates one conversation with the storm agent (``permission: allow``) through the REST API,
runs a warm-up turn, connects ``subscribers`` asyncio ``websockets`` clients (compression as a
client offers it by default, i.e. permessage-deflate, as browsers do) with
``after_seq=<last seq>`` and ``batch=true`` as the console does (``"batch": false`` in the job:
one event per message), then posts the storm message and waits until every subscriber has
seen the turn's closing ``status_changed: idle``.

Per subscriber: events received, first-to-last time, events/s, and the order check (every seq
one more than the last: no gap, no duplicate, from the first event of the storm turn to the
last stored one). The subscriber processes run niced until the turn is over, then at normal
priority when this process may raise it. A subscriber closed as too slow (4008) reconnects
with ``after_seq``, as a client must, and the reconnection is counted. The server's peak RSS
and CPU time come from ``/proc/<pid>``; the agent (its child) is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

TOO_SLOW = 4008  # acphost.server's close code for a subscriber that fell behind
WAIT_S = 30.0  # for the server to start and for a warm-up turn


@dataclass
class Sub:
    """What one subscriber saw."""

    events: int = 0
    last_seq: int = 0
    first_t: float = 0.0
    last_t: float = 0.0
    first_ts: float = 0.0  # the events' own timestamps: when the server stored them
    last_ts: float = 0.0
    disorder: int = 0  # events whose seq was not the last one + 1
    kicked: int = 0  # closes with 4008 (each followed by a reconnection)
    kicked_at: list[tuple[float, int]] = field(default_factory=list)  # (when, last seq)
    other_close: list[str] = field(default_factory=list)
    done: bool = False
    status: str = ""  # the status the storm turn ended in


@dataclass
class Wire:
    """How the subscribers ask for events: compression offered, batched or one per message."""

    compression: str | None
    batch: bool


class Server:
    """``python -m acphost.server`` on a free loopback port, in this process group."""

    def __init__(self, workdir: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "server.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acphost.server",
                    "--host=127.0.0.1",
                    f"--port={self.port}",
                    "--no-auth",
                    f"--store={os.path.join(workdir, 'server.db')}",
                    "--log-level=warning",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                self.get("/api/health")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {self.log_tail()}") from None
                time.sleep(0.05)

    def log_tail(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-3:])[-300:]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return json.loads(response.read())

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def proc_status(self) -> dict[str, float]:
        """Peak and current RSS (MB) and CPU seconds of the server process alone."""
        out: dict[str, float] = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line[:5]] = int(line.split()[1]) / 1024.0
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_idle(server: Server, cid: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        detail: dict[str, Any] = server.get(f"/api/conversations/{cid}")
        if not detail["running"] and detail["status"] == "idle":
            return detail
        if time.monotonic() > deadline:
            raise RuntimeError(f"the conversation did not become idle: {detail['status']}")
        time.sleep(0.02)


def _events(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a message: one, a batch's, or none (a token delta)."""
    kind = data["type"]
    if kind == "events":
        events: list[dict[str, Any]] = data["events"]
        return events
    return [data["event"]] if kind == "event" else []


async def subscribe(url: str, after: int, sub: Sub, ready: asyncio.Event, wire: Wire) -> None:
    """Read events until the turn's closing ``status_changed``; reconnect after a 4008."""
    sub.last_seq = after
    loads = orjson.loads
    clock = time.perf_counter
    while not sub.done:
        ws: ClientConnection = await connect(
            f"{url}?after_seq={sub.last_seq}&batch={str(wire.batch).lower()}",
            max_size=None,
            proxy=None,
            open_timeout=WAIT_S,
            compression=wire.compression,
            ping_interval=None,  # a subscriber busy decoding its backlog answers pings late
        )
        ready.set()
        try:
            while True:
                message = await ws.recv()
                now = clock()
                for event in _events(loads(message)):
                    seq = event["seq"]
                    if seq != sub.last_seq + 1:
                        sub.disorder += 1
                    if not sub.events:
                        sub.first_t = now
                        sub.first_ts = event["ts"]
                    sub.events += 1
                    sub.last_seq = seq
                    sub.last_t = now
                    if event["kind"] == "status_changed" and event["status"] != "running":
                        sub.done = True  # idle, unless the turn failed
                        sub.status = event["status"]
                        sub.last_ts = event["ts"]
                        break
                if sub.done:
                    break
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code == TOO_SLOW:
                sub.kicked += 1
                sub.kicked_at.append((clock(), sub.last_seq))
                continue
            sub.other_close.append(str(closed))
            return
        finally:
            await ws.close()


async def _watch(url: str, after: int, count: int, wire: Wire, go: Any) -> list[Sub]:
    """``count`` subscribers: connect, say ready (``go``), read until the turn's end."""
    subs = [Sub() for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.create_task(subscribe(url, after, s, r, wire))
        for s, r in zip(subs, readies, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), WAIT_S)
    go.send(time.process_time())
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S * 20)
    return subs


def _watcher(url: str, after: int, count: int, wire: Wire, go: Any) -> None:
    """A subscriber process: its subscribers' figures, then its CPU time, go back on ``go``.

    It runs niced: watchers are other machines' browsers, here they share the server's cores,
    and what is measured is whether the server makes the agent wait for them, not whether
    the kernel does.
    """
    os.nice(10)
    subs = asyncio.run(_watch(url, after, count, wire, go))
    go.send([s.__dict__ for s in subs])
    go.send(time.process_time())


def _after_the_turn(server: Server, cid: str, workers: list[Any]) -> bool:
    """Wait for the turn's end, then give the subscriber processes the normal priority back.

    They run niced so that the turn is measured as if they were browsers on other machines;
    once the turn is over, such browsers would catch up on their own CPUs, not on what other
    work on this shared machine leaves to a niced process. Raising a priority needs the
    privilege to (root here); without it they stay niced (``reniced`` is false).
    """
    wait_idle(server, cid)
    try:
        for worker in workers:
            os.setpriority(os.PRIO_PROCESS, worker.pid, 0)
    except PermissionError:
        return False
    return bool(workers)


def storm(server: Server, cid: str, job: dict[str, Any], after: int) -> dict[str, Any]:
    """The storm, watched by ``subscribers`` spread over ``processes`` other processes (a
    Python process decoding a million messages is the bottleneck, not the server)."""
    url = f"ws://127.0.0.1:{server.port}/api/conversations/{cid}/events"
    count = job["subscribers"]
    wire = Wire(job.get("compression", "deflate"), job.get("batch", True))
    processes = max(1, min(count, job.get("processes", 2)))
    shares = [count // processes + (i < count % processes) for i in range(processes)]
    context = multiprocessing.get_context("fork")
    pipes, workers = [], []
    for share in shares if count else []:
        mine, theirs = context.Pipe()
        worker = context.Process(target=_watcher, args=(url, after, share, wire, theirs))
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    cpu_before = sum(pipe.recv() for pipe in pipes)  # each is connected and ready
    before = server.proc_status()
    prompt = common.prompt_text(job["scenario"], job["n"])
    t0 = time.perf_counter()
    server.request("POST", f"/api/conversations/{cid}/messages", {"text": prompt})
    reniced = _after_the_turn(server, cid, workers)
    subs = [Sub(**d) for pipe in pipes for d in pipe.recv()]
    client_cpu = sum(pipe.recv() for pipe in pipes) - cpu_before
    for worker in workers:
        worker.join(WAIT_S)
    final = wait_idle(server, cid)["last_seq"]
    wall = max((s.last_t for s in subs), default=time.perf_counter()) - t0
    after_status = server.proc_status()
    expected = final - after
    # the turn by the events' own timestamps (when the server stored them), from the store
    first = server.get(f"/api/conversations/{cid}/events?after_seq={after}&limit=1")
    last = server.get(f"/api/conversations/{cid}/events/{final}")
    return {
        "events": expected,
        "final_seq": final,
        "fanout_s": wall,
        "sub_events": [s.events for s in subs],
        "sub_first_s": [s.first_t - t0 for s in subs],
        "sub_last_s": [s.last_t - t0 for s in subs],
        "sub_rate": [s.events / (s.last_t - s.first_t) for s in subs if s.last_t > s.first_t],
        "disorder": sum(s.disorder for s in subs),
        "incomplete": sum(
            1 for s in subs if s.last_seq != final or s.events < expected or s.status != "idle"
        ),
        "kicked": sum(s.kicked for s in subs),
        "kicked_subscribers": sum(1 for s in subs if s.kicked),
        "kicked_at": [(t - t0, seq - after) for s in subs for t, seq in s.kicked_at],
        "other_close": [c for s in subs for c in s.other_close][:5],
        "server_turn_s": last["ts"] - first["events"][0]["ts"],
        "server_cpu_s": after_status["cpu_s"] - before["cpu_s"],
        "client_cpu_s": client_cpu,
        "subscriber_processes": len(workers),
        "reniced": reniced,
        "server_rss_before_mb": before["VmRSS"],
        "server_rss_mb": after_status["VmRSS"],
        "server_maxrss_mb": after_status["VmHWM"],
    }


def body(job: dict[str, Any]) -> dict[str, Any]:
    server = Server(job["workdir"])
    try:
        agent = job["agent"]
        created = server.request(
            "POST",
            "/api/conversations",
            {
                "command": agent[0],
                "args": agent[1:],
                "workspace": job["workdir"],
                "permission": "allow",
            },
        )
        cid = created["id"]
        server.request(
            "POST",
            f"/api/conversations/{cid}/messages",
            {"text": common.prompt_text("trivial", 1)},
        )
        after = wait_idle(server, cid)["last_seq"]
        result = storm(server, cid, job, after)
        result["subscribers"] = job["subscribers"]
        result["batch"] = job.get("batch", True)
        return result
    finally:
        server.stop()


if __name__ == "__main__":
    common.main(body)
