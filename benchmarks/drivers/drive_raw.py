"""The physical limit: a tight loop that only reads the agent's NDJSON lines and parses them.

No typing, no state, no store: every line is ``orjson.loads``-ed, notifications are counted,
permission requests are answered "allow" at once, and the turn ends with the prompt's response.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

t_import = time.perf_counter()
import orjson  # noqa: E402

IMPORT_S = time.perf_counter() - t_import

loads = orjson.loads
dumps = orjson.dumps


class Raw:
    def __init__(self, command: list[str], cwd: str) -> None:
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            bufsize=0,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.fd_in = self.proc.stdin.fileno()
        self.fd_out = self.proc.stdout.fileno()
        self.buffer = b""
        self.next_id = 0
        self.units = common.Units()
        self.updates = 0

    def send(self, message: dict[str, Any]) -> None:
        data = dumps(message) + b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd_in, view) :]

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        wanted = self.next_id
        self.send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        read = os.read
        fd = self.fd_out
        buffer = self.buffer
        units = self.units
        while True:
            data = read(fd, 1 << 20)
            if not data:
                raise EOFError("the agent closed its stdout")
            buffer += data
            lines = buffer.split(b"\n")
            buffer = lines.pop()
            for line in lines:
                message = loads(line)
                method_in = message.get("method")
                if method_in == "session/update":
                    self.updates += 1
                    update = message["params"]["update"]
                    kind = update.get("sessionUpdate")
                    if kind == "agent_message_chunk":
                        units.chunks += 1
                    elif kind == "tool_call_update" and update.get("status") == "completed":
                        units.completed += 1
                elif method_in == "session/request_permission":
                    units.permissions += 1
                    option = message["params"]["options"][0]["optionId"]
                    self.send(
                        {
                            "jsonrpc": "2.0",
                            "id": message["id"],
                            "result": {"outcome": {"outcome": "selected", "optionId": option}},
                        }
                    )
                elif method_in is None and message.get("id") == wanted:
                    self.buffer = buffer
                    return message.get("result")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def body(job: dict[str, Any]) -> dict[str, Any]:
    raw = Raw(job["agent"], job["workdir"])
    raw.request("initialize", {"protocolVersion": 1, "clientCapabilities": {}})
    session = raw.request("session/new", {"cwd": job["workdir"], "mcpServers": []})["sessionId"]
    ready_s = common.since_start()

    def turn(text: str) -> None:
        raw.request(
            "session/prompt", {"sessionId": session, "prompt": [{"type": "text", "text": text}]}
        )

    if job.get("warmup"):
        turn(common.prompt_text("trivial", 1))
    prompt = common.prompt_text(job["scenario"], job["n"])
    times: list[float] = []
    units: list[int] = []
    budget = job.get("budget_s")
    began = time.perf_counter()
    for _ in range(job["turns"]):
        raw.units.reset()
        t0 = time.perf_counter()
        turn(prompt)
        times.append(time.perf_counter() - t0)
        units.append(raw.units.of(job["scenario"]))
        if budget is not None and time.perf_counter() - began > budget:
            break  # a time budget (the growth test) keeps what fits
    rss = common.rss_mb()
    raw.close()
    return {
        "import_s": IMPORT_S,
        "ready_s": ready_s,
        "turn_s": times,
        "units": units,
        "rss_end_mb": rss,
        "versions": {"orjson": orjson.__version__},
    }


if __name__ == "__main__":
    common.main(body)
