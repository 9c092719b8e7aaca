"""The drivers (one program per host) and running one of them in its own process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _bench.env import AGENT, DRIVERS_DIR, log, openhands_python, subprocess_env


@dataclass
class Driver:
    key: str
    label: str
    script: str
    python: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None  # why it cannot run at all


def make_drivers(host_python: str, host_reason: str | None) -> dict[str, Driver]:
    oh_python, oh_reason = openhands_python()
    drivers = [
        Driver("raw", "orjson loop (limit)", "drive_raw.py", host_python),
        Driver("sdk", "bare SDK (acp)", "drive_sdk.py", host_python),
        Driver("acphost-run", "acphost run()", "drive_acphost.py", host_python, {"mode": "run"}),
        Driver("acphost-arun", "acphost arun()", "drive_acphost.py", host_python, {"mode": "arun"}),
        Driver(
            "openhands", "OpenHands", "drive_openhands.py", oh_python, {"persist": False}, oh_reason
        ),
        Driver(
            "openhands-persist",
            "OpenHands + persistence",
            "drive_openhands.py",
            oh_python,
            {"persist": True},
            oh_reason,
        ),
        # the server's fan-out; the number of subscribers comes with the job
        Driver("ws-1", "acphost serve, 1 subscriber", "drive_ws.py", host_python),
        Driver("ws-n", "acphost serve, N subscribers", "drive_ws.py", host_python),
        Driver(
            "ws-n-plain",
            "acphost serve, N subscribers, no compression",
            "drive_ws.py",
            host_python,
            {"compression": None},
        ),
    ]
    for driver in drivers:
        if driver.python == host_python and host_reason is not None:
            driver.unavailable = host_reason
    return {d.key: d for d in drivers}


def run_driver(
    driver: Driver, script: str, job: dict[str, Any], timeout: float, agent_python: str
) -> dict[str, Any]:
    """Run one driver process; its result, or ``{"error": ...}``. Never hangs past ``timeout``."""
    if driver.unavailable:
        return {"error": driver.unavailable, "unavailable": True}
    workdir = tempfile.mkdtemp(prefix=f"acpbench-{driver.key}-")
    job = {**job, **driver.extra, "agent": [agent_python, str(AGENT)], "workdir": workdir}
    env = subprocess_env()
    stderr_path = Path(workdir) / "driver.stderr"
    started = time.perf_counter()
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [driver.python, str(DRIVERS_DIR / script), json.dumps(job)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
                env=env,
                start_new_session=True,  # its own group: a timeout kills the agents too
            )
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return {"error": f"timed out after {timeout:.0f} s", "timeout": True}
            finally:
                _kill_group(proc)  # whatever the driver left behind (agents) goes too
        result: dict[str, Any] | None = None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
        if result is None:
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
            return {"error": f"exit {proc.returncode}, no result: {' | '.join(tail)[-300:]}"}
        if "error" in result:
            log(result.get("traceback", ""))
        # not ``wall_s``: a driver's own (drive_concurrent's phase 2) must not be overwritten
        result["process_s"] = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
