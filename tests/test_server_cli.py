"""``python -m acphost.server``: a real process serving, and its refusals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = "cli-key-abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_server(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "acphost.server", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serves_with_the_key_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {"ACPHOST_API_KEY": KEY, "ACPHOST_HOME": str(tmp_path)}
    process = run_server("--port", str(port), "--log-level", "warning", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10  # a cold interpreter on a busy machine
        while True:
            try:
                health = httpx.get(f"{url}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"{url}/api/conversations").status_code == 401
        listed = httpx.get(f"{url}/api/conversations", headers={"X-API-Key": KEY})
        assert listed.status_code == 200
        assert listed.json()["total"] == 0
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert KEY not in output
    assert (tmp_path / "acphost.db").is_file()


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {"ACPHOST_API_KEY": "", "ACPHOST_HOME": str(tmp_path)}
    for args, says in [
        ((), "needs an API key"),
        (("--host", "0.0.0.0", "--no-auth"), "not a loopback address"),
    ]:
        process = run_server("--port", str(free_port()), *args, env=env)
        output, _ = process.communicate(timeout=10)
        assert process.returncode == 2, output
        assert says in output
        assert "ACPHOST_API_KEY" in output
