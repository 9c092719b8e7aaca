"""How big each experiment is (full and ``--quick``), and which drivers the storms compare."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

STORM_DRIVERS = ["raw", "sdk", "acphost-run", "acphost-arun", "openhands", "openhands-persist"]

# The runs every storm driver appears in (filled with "not run" when skipped).
STORM_RUNS = ("chunks", "tools", "perms", "trivial", "growth")

# (scenario key, title, agent scenario, unit name, updates per n)
STORMS = [
    ("chunks", "chunk storm", "chunks", "updates/s", 1),
    ("tools", "tool-call storm", "tools", "updates/s", 3),
    ("perms", "permission storm", "perms", "permissions/s", 1),
]

# The WebSocket fan-out: the same storm in-process for context, then through the server.
WS_DRIVERS = ["acphost-arun", "ws-1", "ws-n", "ws-n-plain"]

# N concurrent conversations: acphost and, as the floor of this machine, the bare SDK.
# (driver key, label, script); the runs are "concurrent" (back to back) and "paced".
CONC_DRIVERS = [
    ("concurrent", "acphost arun()", "drive_concurrent.py"),
    ("concurrent-sdk", "bare SDK (acp)", "drive_concurrent_sdk.py"),
]
CONC_LOADS = [("concurrent", "back to back"), ("paced", "paced")]


@dataclass
class Sizes:
    rounds: int
    perms_rounds: int  # its turn is ~0.1 s for most drivers, and one such turn is noisy
    chunks: int
    tools: int
    perms: int
    trivial_turns: int
    growth_turns: int
    growth_tools: int
    growth_rounds: int  # one run's last ÷ first is noise on a shared machine: take the median
    growth_openhands_budget_s: float
    conversations: int
    concurrent_turns: int
    concurrent_rounds: int  # few: a paced run takes ~25 s
    paced_think_s: float
    import_runs: int
    timeout_s: float
    ws_subscribers: int
    ws_tools: int  # tool calls of the fan-out storm: 3 events each


FULL = Sizes(
    rounds=4,
    perms_rounds=8,
    chunks=50_000,
    tools=2_000,
    perms=1_000,
    trivial_turns=500,
    growth_turns=100,
    growth_tools=2_000,
    growth_rounds=3,
    growth_openhands_budget_s=45.0,
    conversations=100,
    concurrent_turns=20,
    concurrent_rounds=3,
    paced_think_s=0.5,
    import_runs=5,
    timeout_s=300.0,
    ws_subscribers=50,
    ws_tools=6_667,
)
QUICK = Sizes(
    rounds=1,
    perms_rounds=1,
    chunks=10_000,
    tools=200,
    perms=200,
    trivial_turns=100,
    growth_turns=10,
    growth_tools=200,
    growth_rounds=1,
    growth_openhands_budget_s=0.0,  # skipped in --quick
    conversations=20,
    concurrent_turns=10,
    concurrent_rounds=1,
    paced_think_s=0.2,
    import_runs=2,
    timeout_s=120.0,
    ws_subscribers=10,
    ws_tools=667,
)


def saved_sizes(saved: dict[str, Any], quick: bool) -> Sizes:
    """The sizes of a saved run; fields it predates take today's defaults."""
    known = {f.name for f in dataclasses.fields(Sizes)}
    base = dataclasses.asdict(QUICK if quick else FULL)
    base["perms_rounds"] = saved.get("rounds", base["rounds"])  # runs before it had one count
    return Sizes(**{**base, **{k: v for k, v in saved.items() if k in known}})
