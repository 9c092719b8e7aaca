"""Warm starts: a new conversation's first answer, cold (the agent starts then) vs from an
AgentPool (the agent was started and initialised in advance).

    python benchmarks/warm_start.py [--agent fast-agent|demo] [--rounds N]

``fast-agent`` is the real agent (``.cache/agents/fast-agent``, its scripted passthrough model:
no network); ``demo`` is acphost's fake agent. Cold and warm runs alternate, each in a fresh
workspace; the report gives medians and the ratio. Timings live here, never in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from acphost import AgentPool, Conversation

ROOT = Path(__file__).resolve().parent.parent
FAST_AGENT = ROOT / ".cache" / "agents" / "fast-agent" / "venv" / "bin" / "fast-agent"


def agent_command(name: str, home: Path) -> list[str] | str:
    if name == "demo":
        return "demo"
    if not FAST_AGENT.exists():
        sys.exit(f"fast-agent is not installed at {FAST_AGENT} (scripts/install-agents.sh)")
    return [
        str(FAST_AGENT),
        *("--no-update-check", "acp", "--model", "passthrough", "--shell", "--home", str(home)),
    ]


def first_answer(agent: list[str] | str, workspace: Path, pool: AgentPool | None) -> float:
    """Seconds from creating the conversation to the end of its first turn."""
    started = time.perf_counter()
    with Conversation(agent, workspace, store=":memory:", permission="allow", pool=pool) as c:
        c.run("***FIXED_RESPONSE hello" if isinstance(agent, list) else "hello")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="fast-agent", choices=("fast-agent", "demo"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "home").mkdir()
        agent = agent_command(args.agent, root / "home")
        cold: list[float] = []
        warm: list[float] = []
        with AgentPool(1, directory=root) as pool:
            pool.warm(agent)
            for i in range(args.rounds):
                for kind, times in (("cold", cold), ("warm", warm)):
                    workspace = root / f"{kind}-{i}"
                    workspace.mkdir()
                    if kind == "warm" and not pool.wait_ready(agent, timeout=120):
                        sys.exit("the pool never got an agent ready")
                    times.append(first_answer(agent, workspace, pool if kind == "warm" else None))
                    print(f"round {i + 1} {kind}: {times[-1]:.3f} s", file=sys.stderr)
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print("| agent | rounds | cold first answer (median) | from a pool (median) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {args.agent} | {args.rounds} | {cold_s:.3f} s | {warm_s:.3f} s | "
        f"{cold_s / warm_s:.1f}x faster |"
    )


if __name__ == "__main__":
    main()
