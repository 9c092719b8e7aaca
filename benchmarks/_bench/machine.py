"""The machine section: CPU, memory, the libraries measured, and the load around the run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from _bench.env import openhands_python, run_python


def machine(
    host_python: str, load: tuple[tuple[float, ...] | None, tuple[float, ...] | None]
) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    host = _versions(
        host_python,
        ["acphost", "agent-client-protocol", "pydantic", "pydantic-core", "orjson", "anyio"],
    )
    oh_python, oh_reason = openhands_python()
    oh = (
        _versions(oh_python, ["openhands-sdk", "agent-client-protocol", "pydantic", "litellm"])
        if oh_reason is None
        else {"python": f"n/a ({oh_reason})"}
    )
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {ram}; "
        f"{platform.system()} {platform.release()}",
        f"- acphost, bare SDK and orjson loop (and the storm agent): Python {host.pop('python')}"
        f" — {', '.join(f'{k} {v}' for k, v in host.items())}",
        f"- OpenHands: Python {oh.pop('python')}"
        + (f" — {', '.join(f'{k} {v}' for k, v in oh.items())}" if oh else ""),
        f"- Load average (1/5/15 min) at the start: {_load(load[0])}; at the end:"
        f" {_load(load[1])}. Anything else running on the machine shows in the min–max spreads;"
        " the drivers are interleaved so that it spreads over all of them.",
    ]


def _load(values: Sequence[float] | None) -> str:
    return "unknown" if values is None else " / ".join(f"{v:.2f}" for v in values)


def _versions(python: str, packages: list[str]) -> dict[str, str]:
    code = (
        "import sys, json\nfrom importlib.metadata import version\nout={'python': "
        f"sys.version.split()[0]}}\nfor p in {packages!r}:\n    try: out[p]=version(p)\n"
        "    except Exception: out[p]='missing'\nprint(json.dumps(out))"
    )
    try:
        done = run_python(python, code, timeout=60)
        return dict(json.loads(done.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {"python": "unknown"}
