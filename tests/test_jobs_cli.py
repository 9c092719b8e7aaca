"""``acphost jobs``, run for real as ``python -m acphost.cli``: progress, Ctrl-C, exports."""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from jobs_support import DEADLINE, counting_agent, has_event, starts, trial_row, wait_for

CLI = [sys.executable, "-m", "acphost.cli", "jobs"]


def _job_file(tmp_path: Path, agent: list[str]) -> Path:
    path = tmp_path / "cli-job.toml"
    path.write_text(
        'concurrency = 1\n[[agents]]\nname = "fake"\n'
        f"command = {orjson.dumps(agent).decode()}\n"
        '[[tasks]]\nid = "a"\nprompt = "go"\ncheck = "test -f out.txt"\n'
        '[[tasks]]\nid = "b"\nprompt = "go"\ncheck = "test -f out.txt && echo score: 1"\n'
    )
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=DEADLINE, check=False
    )


_TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


def _interrupt_a_side_thread(pid: int) -> None:
    """SIGINT to one of the process's threads other than its main one (as the kernel may
    choose when a terminal sends it): only a wakeup of its event loop makes it seen."""
    threads = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    assert threads, "the job process has no other thread"
    assert _TGKILL is not None
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(_TGKILL, pid, threads[0], signal.SIGINT) == 0, ctypes.get_errno()


@pytest.mark.parametrize("target", ["process", "side_thread"])
def test_ctrl_c_cancels_and_records_the_running_trial_and_a_rerun_resumes(
    tmp_path: Path, target: str
) -> None:
    db = tmp_path / "s.db"
    job_file = _job_file(tmp_path, counting_agent(tmp_path, hang_on=1))
    process = subprocess.Popen(
        [*CLI, "run", str(job_file), "--store", str(db), "--workdir", str(tmp_path / "ws")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps its threads
    )
    try:
        wait_for("a to run", lambda: (trial_row(db, "a") or {}).get("outcome") == "running")
        hung = (trial_row(db, "a") or {})["conversation_id"]
        wait_for("the tool call", lambda: has_event(db, hung, "tool_call"))
        if target == "process":
            process.send_signal(signal.SIGINT)
        else:
            _interrupt_a_side_thread(process.pid)
        try:
            _, err = process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _, err = process.communicate(timeout=DEADLINE)
            pytest.fail(f"Ctrl-C did not stop the job; its threads:\n{err[-6000:]}")
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert "run again to resume" in err
    row = trial_row(db, "a")
    assert row is not None
    assert (row["outcome"], row["conversation_id"]) == ("cancelled", hung)
    assert has_event(db, hung, "turn_ended")  # the turn ended cancelled, in the log
    assert trial_row(db, "b") is None  # never started
    listed = json.loads(_cli("list", "--store", str(db), "--json").stdout)
    assert [(j["id"], j["status"], j["finished"]) for j in listed] == [("cli-job", "stopped", 0)]

    done = _cli("run", str(job_file), "--store", str(db), "--workdir", str(tmp_path / "ws"))
    assert done.returncode == 0, done.stderr
    assert "1/2 done" in done.stderr
    assert "2/2 done" in done.stderr
    assert "passed" in done.stdout
    row = trial_row(db, "a")
    assert row is not None
    assert (row["outcome"], row["previous"]) == ("passed", [hung])
    assert starts(tmp_path) == 3


def test_show_and_the_reports(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    job_file = _job_file(tmp_path, counting_agent(tmp_path))
    ran = _cli("run", str(job_file), "--store", str(db), "--workdir", str(tmp_path / "ws"))
    assert ran.returncode == 0, ran.stderr
    shown = _cli("show", "cli-job", "--store", str(db))
    assert "2/2 100%" in shown.stdout  # pass rate with its interval
    data = json.loads(_cli("show", "cli-job", "--store", str(db), "--json").stdout)
    assert [t["outcome"] for t in data["trials"]] == ["passed", "passed"]
    assert data["stats"][0]["cost_per_solved"] == 0.01
    rows = list(
        csv.DictReader(
            io.StringIO(_cli("report", "cli-job", "--format", "csv", "--store", str(db)).stdout)
        )
    )
    assert [(r["task_id"], r["outcome"], r["score"]) for r in rows] == [
        ("a", "passed", ""),
        ("b", "passed", "1.0"),
    ]
    page = tmp_path / "report.html"
    made = _cli("report", "cli-job", "--store", str(db), "-o", str(page))
    assert made.returncode == 0, made.stderr
    text = page.read_text()
    assert "<svg" in text
    assert "Tasks × agents" in text
    for external in ("<script", "src=", "href=", "@import"):
        assert external not in text  # one self-contained file
    missing = _cli("show", "nope", "--store", str(db))
    assert missing.returncode == 2  # a usage error
    assert "no job 'nope'" in missing.stderr
