#!/usr/bin/env python3
"""Profile acphost in the storms: ``python benchmarks/profile_acphost.py [--quick] [scenario...]``.

For each scenario, one ``Conversation`` (SQLite store, one callback, ``permission="allow"``)
runs a warm-up turn, then the storm under cProfile: one profiler on the driver thread (the
caller of ``run()``: delivery, events, store, callbacks) and one on acphost's I/O loop thread
(reading, JSON-RPC, the agent side), since cProfile sees only the thread it was enabled in.
Prints, per scenario and thread, the top functions by cumulative and by own time; with
``--out FILE`` writes the same as markdown (the raw material of ``PROFILE.md``).

``--py-spy`` samples instead (wall-clock view, no instrumentation overhead, every thread at once):
it runs ``drivers/drive_acphost.py`` under ``py-spy record`` (``bash benchmarks/setup.sh
--profile`` installs py-spy in ``benchmarks/.venv-tools``) and summarises the samples taken
while the driver thread is inside ``run()``: per thread, the functions on the stack (inclusive)
and at its top (own), as a share of that thread's samples.

Scenarios: chunks, tools, perms, trivial, growth (the last turn of a long conversation).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AGENT = HERE / "storm_agent.py"

from acphost import Conversation  # noqa: E402
from acphost.conversation._loop import IOLoop  # noqa: E402

FULL = {
    "chunks": ("chunks", 50_000, 1),
    "tools": ("tools", 2_000, 1),
    "perms": ("perms", 1_000, 1),
    "trivial": ("trivial", 1, 500),
    "growth": ("tools", 2_000, 30),
}
QUICK = {
    "chunks": ("chunks", 10_000, 1),
    "tools": ("tools", 500, 1),
    "perms": ("perms", 200, 1),
    "trivial": ("trivial", 1, 100),
    "growth": ("tools", 500, 10),
}


def on_io_thread(func: Any) -> None:
    """Run ``func()`` on acphost's I/O loop thread and wait for it."""
    done = threading.Event()

    def call() -> None:
        try:
            func()
        finally:
            done.set()

    IOLoop.get().call_soon(call)
    done.wait()


def profile(name: str, scenario: str, n: int, turns: int) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="acpbench-profile-")
    seen = [0]

    def callback(event: Any) -> None:
        seen[0] += 1

    conversation = Conversation(
        [sys.executable, str(AGENT)],
        workdir,
        store=os.path.join(workdir, "acphost.db"),
        callbacks=[callback],
        permission="allow",
    )
    conversation.run("storm:trivial:1")
    prompt = f"storm:{scenario}:{n}"
    main_prof, io_prof = cProfile.Profile(), cProfile.Profile()
    profiled_turns = turns
    if name == "growth":
        # History first, unprofiled; then profile the last turns only.
        for _ in range(turns - 3):
            conversation.run(prompt)
        profiled_turns = 3
    on_io_thread(io_prof.enable)
    main_prof.enable()
    t0 = time.perf_counter()
    for _ in range(profiled_turns):
        conversation.run(prompt)
    elapsed = time.perf_counter() - t0
    main_prof.disable()
    on_io_thread(io_prof.disable)
    conversation.close()
    return {
        "name": name,
        "what": f"{profiled_turns} turn(s) of `{prompt}`",
        "elapsed": elapsed,
        "driver": main_prof,
        "io": io_prof,
    }


def top(prof: cProfile.Profile, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    lines = out.getvalue().splitlines()
    # keep the header line with the totals and the table itself
    keep = [line for line in lines if line.strip()]
    start = next((i for i, line in enumerate(keep) if "ncalls" in line), 0)
    total = next((line.strip() for line in keep if "function calls" in line), "")
    return total + "\n" + "\n".join(keep[start:])


SPY_SIZES = {
    "chunks": ("chunks", 50_000, 5),
    "tools": ("tools", 2_000, 10),
    "perms": ("perms", 1_000, 5),
    "trivial": ("trivial", 1, 2_000),
    "growth": ("tools", 2_000, 60),
}


def py_spy_binary() -> str:
    found = HERE / ".venv-tools" / "bin" / "py-spy"
    if found.exists():
        return str(found)
    on_path = shutil.which("py-spy")
    if on_path is None:
        sys.exit("py-spy not found: bash benchmarks/setup.sh --profile")
    return on_path


def spy(name: str, limit: int, rate: int) -> str:
    scenario, n, turns = SPY_SIZES[name]
    workdir = tempfile.mkdtemp(prefix="acpbench-spy-")
    raw = os.path.join(workdir, "samples.txt")
    job = {
        "agent": [sys.executable, str(AGENT)],
        "workdir": workdir,
        "scenario": scenario,
        "n": n,
        "turns": turns,
        "warmup": True,
        "mode": "run",
    }
    subprocess.run(
        [
            py_spy_binary(),
            "record",
            "--format",
            "raw",
            "--threads",
            "--rate",
            str(rate),
            "-o",
            raw,
            "--",
            sys.executable,
            str(HERE / "drivers" / "drive_acphost.py"),
            json.dumps(job),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    driver_marker = "run (acphost/conversation/_conversation.py"
    threads: dict[str, list[tuple[list[str], int]]] = collections.defaultdict(list)
    with open(raw) as f:
        for line in f:
            stack_text, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack_text.split(";")
            threads[frames[0]].append((frames[1:], int(count)))
    driver_thread = max(
        threads,
        key=lambda t: sum(c for fr, c in threads[t] if any(driver_marker in x for x in fr)),
    )
    # Window: the driver thread's samples inside run(); every other thread's samples
    # from its run loop (the I/O loop thread), i.e. after start-up.
    out = [f"## {name}: {turns} turn(s) of `storm:{scenario}:{n}` (py-spy, {rate} Hz)", ""]
    for thread, stacks in threads.items():
        if thread == driver_thread:
            kept = [(fr, c) for fr, c in stacks if any(driver_marker in x for x in fr)]
            label = "driver thread (inside run())"
        else:
            kept = [(fr, c) for fr, c in stacks if any("_run_once" in x for x in fr)]
            label = "I/O loop thread" if kept else ""
        total = sum(c for _fr, c in kept)
        if not kept or total < 10:
            continue
        own: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        for frames, count in kept:
            own[_short(frames[-1])] += count
            for frame in {_short(f) for f in frames}:
                inclusive[frame] += count
        out += [f"### {label}: {total} samples (busy only; idle waits are not sampled)", ""]
        out += ["| inclusive | own | function |", "|---:|---:|---|"]
        for frame, count in inclusive.most_common(limit):
            out.append(
                f"| {100 * count / total:.1f}% | {100 * own[frame] / total:.1f}% | `{frame}` |"
            )
        top_own = [
            f for f, _c in own.most_common(limit) if f not in dict(inclusive.most_common(limit))
        ]
        for frame in top_own[: limit // 2]:
            share, own_share = 100 * inclusive[frame] / total, 100 * own[frame] / total
            out.append(f"| {share:.1f}% | {own_share:.1f}% | `{frame}` |")
        out.append("")
    shutil.rmtree(workdir, ignore_errors=True)
    return "\n".join(out)


def _short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``file.py:func``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{path.rsplit('/', 1)[-1]}:{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(FULL))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--out", help="write a markdown report here")
    parser.add_argument("--py-spy", action="store_true", help="sample with py-spy instead")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    sections = []
    if args.py_spy:
        for name in args.scenarios:
            section = spy(name, args.limit, args.rate)
            print(section, flush=True)
            sections.append(section)
        if args.out:
            Path(args.out).write_text("# py-spy samples\n\n" + "\n".join(sections))
        return
    for name in args.scenarios:
        scenario, n, turns = sizes[name]
        result = profile(name, scenario, n, turns)
        text = [f"## {name}: {result['what']} — {result['elapsed']:.2f} s under cProfile", ""]
        for thread in ("driver", "io"):
            label = "driver thread (run())" if thread == "driver" else "I/O loop thread"
            for sort in ("cumulative", "tottime"):
                text += [
                    f"### {label}, by {sort}",
                    "",
                    "```",
                    top(result[thread], sort, args.limit),
                    "```",
                    "",
                ]
        section = "\n".join(text)
        print(section, flush=True)
        sections.append(section)
    if args.out:
        Path(args.out).write_text("# cProfile output\n\n" + "\n".join(sections))


if __name__ == "__main__":
    main()
