#!/usr/bin/env python3
"""The benchmarks, side by side: ``python benchmarks/run.py [--quick]``.

Runs the storm agent (``storm_agent.py``) through every driver (``drivers/``), each in its own
subprocess with a timeout, interleaving the drivers round by round (A B C A B C ...), then writes
``benchmarks/RESULTS.md`` (and the raw numbers in ``benchmarks/results.json``) and prints it.
See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DRIVERS_DIR = HERE / "drivers"
AGENT = HERE / "storm_agent.py"
OPENHANDS_VENV = HERE / ".venv-openhands"
OPENHANDS_PY = OPENHANDS_VENV / "bin" / "python"

# Every subprocess gets these. litellm (imported by openhands-sdk) otherwise fetches its model
# cost map from the internet in a background thread at import; with no network here that thread
# retries, logs, and its logging filter imports modules concurrently with the main thread, which
# now and then dies with an import deadlock. Its documented switch keeps the local copy.
SUBPROCESS_ENV = {"OPENHANDS_SUPPRESS_BANNER": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def subprocess_env() -> dict[str, str]:
    env = {**os.environ, **SUBPROCESS_ENV}
    env.pop("PYTHONPATH", None)
    return env


# --- interpreters ------------------------------------------------------------------------------


def _can_import(python: str, modules: Sequence[str]) -> str | None:
    """``None`` if ``python`` imports every module, else the reason it does not."""
    code = "import " + ", ".join(modules)
    try:
        done = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=subprocess_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot run: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python}: {last}"
    return None


def find_host_python() -> tuple[str, str | None]:
    """The interpreter for the acphost/SDK drivers: it must import acphost, acp and orjson."""
    candidates = [
        os.environ.get("ACPHOST_BENCH_PYTHON"),
        sys.executable,
        str(REPO / ".venv" / "bin" / "python"),
    ]
    reason = None
    for python in candidates:
        if python and Path(python).exists():
            reason = _can_import(python, ["acphost", "acp", "orjson"])
            if reason is None:
                return python, None
    return sys.executable, reason or "no interpreter with acphost installed"


_OPENHANDS: tuple[str, str | None] | None = None


def openhands_python() -> tuple[str, str | None]:
    """The OpenHands venv's interpreter, or why it cannot be used (checked once: ~5 s)."""
    global _OPENHANDS
    if _OPENHANDS is None:
        _OPENHANDS = _openhands_python()
    return _OPENHANDS


def _openhands_python() -> tuple[str, str | None]:
    if not OPENHANDS_PY.exists():
        return str(OPENHANDS_PY), "benchmarks/.venv-openhands is missing: run benchmarks/setup.sh"
    reason = _can_import(str(OPENHANDS_PY), ["openhands.sdk"])
    if reason is not None:
        return str(OPENHANDS_PY), f"openhands-sdk does not import ({reason[-160:]})"
    return str(OPENHANDS_PY), None


# --- drivers -----------------------------------------------------------------------------------


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
    ]
    for driver in drivers:
        if driver.python == host_python and host_reason is not None:
            driver.unavailable = host_reason
    return {d.key: d for d in drivers}


# --- running one driver ------------------------------------------------------------------------


def log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


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
        result = None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
        if result is None:
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
            return {"error": f"exit {proc.returncode}, no result: {' | '.join(tail)[-300:]}"}
        if "error" in result:
            log(result.get("traceback", ""))
        result["wall_s"] = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


# --- statistics --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Stat:
    med: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        values = [v for v in values if v is not None and not math.isnan(v)]
        if not values:
            return None
        return cls(median(values), min(values), max(values), len(values))


def fmt_num(value: float, unit: str = "") -> str:
    if unit == "ms":
        value *= 1000.0
        if value < 1:
            return f"{value:.3f} ms"
        if value < 10:
            return f"{value:.2f} ms"
        return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value:.0f} MB" if value >= 100 else f"{value:.1f} MB"
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M/s"
        if value >= 1e4:
            return f"{value / 1e3:.0f} k/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f} k/s"
        return f"{value:.0f} /s"
    return f"{value:.3g}"


def fmt_stat(stat: Stat | None, unit: str, na: str = "n/a") -> str:
    if stat is None:
        return na
    if stat.n == 1:
        return fmt_num(stat.med, unit)
    return f"{fmt_num(stat.med, unit)} ({fmt_num(stat.lo, unit)}–{fmt_num(stat.hi, unit)})"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


# --- experiments -------------------------------------------------------------------------------

STORM_DRIVERS = ["raw", "sdk", "acphost-run", "acphost-arun", "openhands", "openhands-persist"]


@dataclass
class Sizes:
    rounds: int
    chunks: int
    tools: int
    perms: int
    trivial_turns: int
    growth_turns: int
    growth_tools: int
    growth_openhands_budget_s: float
    conversations: int
    concurrent_turns: int
    paced_think_s: float
    import_runs: int
    timeout_s: float


FULL = Sizes(
    rounds=4,
    chunks=50_000,
    tools=2_000,
    perms=1_000,
    trivial_turns=500,
    growth_turns=100,
    growth_tools=2_000,
    growth_openhands_budget_s=45.0,
    conversations=100,
    concurrent_turns=20,
    paced_think_s=0.5,
    import_runs=5,
    timeout_s=300.0,
)
QUICK = Sizes(
    rounds=1,
    chunks=10_000,
    tools=200,
    perms=200,
    trivial_turns=100,
    growth_turns=10,
    growth_tools=200,
    growth_openhands_budget_s=0.0,  # skipped in --quick
    conversations=20,
    concurrent_turns=10,
    paced_think_s=0.2,
    import_runs=2,
    timeout_s=120.0,
)

# (scenario key, title, agent scenario, unit name, updates per n)
STORMS = [
    ("chunks", "chunk storm", "chunks", "updates/s", 1),
    ("tools", "tool-call storm", "tools", "updates/s", 3),
    ("perms", "permission storm", "perms", "permissions/s", 1),
]


class Bench:
    def __init__(self, sizes: Sizes, quick: bool) -> None:
        self.sizes = sizes
        self.quick = quick
        self.host_python, host_reason = find_host_python()
        self.drivers = make_drivers(self.host_python, host_reason)
        self.results: dict[str, Any] = {"runs": {}}
        self.started = time.perf_counter()
        self.load_start: tuple[float, ...] | None = os.getloadavg()
        self.load_end: tuple[float, ...] | None = None
        self.elapsed_s: float | None = None  # set when re-rendering a saved run
        self.generated = time.strftime("%Y-%m-%d %H:%M %Z")
        self.revision = _revision()

    def job(self, scenario: str, n: int, turns: int, **extra: Any) -> dict[str, Any]:
        return {"scenario": scenario, "n": n, "turns": turns, "warmup": True, **extra}

    def interleave(
        self,
        name: str,
        driver_keys: Sequence[str],
        job: dict[str, Any],
        rounds: int,
        timeout: float,
        per_driver: Callable[[str], dict[str, Any]] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Rounds of A B C ...; every driver run in its own process."""
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in driver_keys}
        for r in range(rounds):
            for key in driver_keys:
                driver = self.drivers[key]
                spec = {**job, **(per_driver(key) if per_driver else {})}
                if spec.get("skip"):
                    out[key].append({"error": spec["skip"], "unavailable": True})
                    continue
                t0 = time.perf_counter()
                result = run_driver(driver, driver.script, spec, timeout, self.host_python)
                out[key].append(result)
                status = result.get("error") or _brief(result)
                log(
                    f"[{self.elapsed():6.1f}s] {name:<10} round {r + 1}/{rounds} "
                    f"{key:<18} {time.perf_counter() - t0:6.1f}s  {status}"
                )
        self.results["runs"][name] = out
        return out

    def elapsed(self) -> float:
        if self.elapsed_s is not None:
            return self.elapsed_s
        return time.perf_counter() - self.started

    # -- the experiments ------------------------------------------------------------------

    def storms(self) -> None:
        s = self.sizes
        sizes = {"chunks": s.chunks, "tools": s.tools, "perms": s.perms}
        for key, _title, scenario, _unit, _per in STORMS:
            self.interleave(
                key, STORM_DRIVERS, self.job(scenario, sizes[key], 1), s.rounds, s.timeout_s
            )

    def trivial(self) -> None:
        s = self.sizes
        self.interleave(
            "trivial",
            STORM_DRIVERS,
            self.job("trivial", 1, s.trivial_turns),
            s.rounds,
            s.timeout_s,
        )

    def growth(self) -> None:
        s = self.sizes
        budget = s.growth_openhands_budget_s

        def per_driver(key: str) -> dict[str, Any]:
            if key == "openhands":
                if budget <= 0:
                    return {"skip": "skipped in --quick"}
                return {"budget_s": budget}
            if key == "openhands-persist":
                return {
                    "skip": "one 2,000-call turn takes tens of seconds with its persistence"
                    " (see the tool-call storm): 100 turns do not fit in the run"
                    if not self.quick
                    else "skipped in --quick"
                }
            return {"budget_s": s.timeout_s * 2}

        self.interleave(
            "growth",
            STORM_DRIVERS,
            self.job("tools", s.growth_tools, s.growth_turns),
            1,
            s.timeout_s * 3,
            per_driver,
        )

    def concurrency(self) -> None:
        s = self.sizes
        drivers = self.drivers
        drivers["concurrent"] = Driver(
            "concurrent",
            "acphost arun() × N",
            "drive_concurrent.py",
            self.host_python,
            unavailable=drivers["acphost-run"].unavailable,
        )
        for name, think in (("concurrent", 0.0), ("paced", s.paced_think_s)):
            job = self.job(
                "trivial",
                1,
                s.concurrent_turns,
                conversations=s.conversations,
                think_s=think,
            )
            self.interleave(name, ["concurrent"], job, 1, s.timeout_s * 2)

    def imports(self) -> None:
        """In-process import time, each in a fresh interpreter, interleaved, several runs."""
        oh_python, oh_reason = openhands_python()
        cases = [
            ("import acp", self.host_python, "import acp", None),
            ("import acphost", self.host_python, "import acphost", None),
            (
                "from acphost import Conversation",
                self.host_python,
                "from acphost import Conversation",
                None,
            ),
            ("import openhands.sdk", oh_python, "import openhands.sdk", oh_reason),
        ]
        times: dict[str, list[float]] = {label: [] for label, *_ in cases}
        errors: dict[str, str] = {}
        runs = self.sizes.import_runs
        for r in range(runs):
            for label, python, stmt, reason in cases:
                if reason is not None:
                    errors[label] = reason
                    continue
                if label == "import openhands.sdk" and self.quick and r > 0:
                    continue  # ~7 s a run: once is enough for a smoke run
                code = (
                    f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
                )
                try:
                    done = subprocess.run(
                        [python, "-c", code],
                        capture_output=True,
                        text=True,
                        timeout=120,
                        check=False,
                        env=subprocess_env(),
                        cwd=tempfile.gettempdir(),
                    )
                    times[label].append(float(done.stdout.strip().splitlines()[-1]))
                except (subprocess.TimeoutExpired, ValueError, IndexError, OSError) as exc:
                    errors[label] = f"failed: {exc}"
            log(f"[{self.elapsed():6.1f}s] imports    run {r + 1}/{runs}")
        self.results["imports"] = {"times": times, "errors": errors}


def _revision() -> str:
    """The acphost commit measured (``-dirty``: with uncommitted changes in the work tree)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--exclude", "*"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _brief(result: dict[str, Any]) -> str:
    turns = result.get("turn_s") or result.get("many_turn_s") or []
    if not turns:
        return "ok"
    return f"turn median {median(turns) * 1000:.2f} ms over {len(turns)}"


# --- the report --------------------------------------------------------------------------------


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
        done = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=subprocess_env(),
        )
        return dict(json.loads(done.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {"python": "unknown"}


class Report:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.runs = bench.results["runs"]
        self.labels = {k: d.label for k, d in bench.drivers.items()}
        self.lines: list[str] = []
        self.targets: list[tuple[str, str, str]] = []

    def na(self, results: list[dict[str, Any]]) -> str:
        for result in results:
            if "error" in result:
                reason = " ".join(str(result["error"]).replace("|", "/").split())
                if len(reason) > 140:
                    reason = reason[:137] + "..."
                return f"n/a ({reason})"
        return "n/a"

    def failed(self, results: list[dict[str, Any]]) -> str:
        """`` (k of n runs failed: reason)`` when some, not all, runs of a driver failed."""
        bad = [r for r in results if "error" in r]
        if not bad or len(bad) == len(results):
            return ""
        return f" ({len(bad)} of {len(results)} runs failed: {self.na(bad)[5:-1]})"

    # -- per experiment ---------------------------------------------------------------------

    def storm_rates(self, name: str, per: int, n: int) -> dict[str, Stat | None]:
        rates: dict[str, Stat | None] = {}
        for key, results in self.runs.get(name, {}).items():
            values = []
            for result in results:
                if "error" in result:
                    continue
                for t in result["turn_s"]:
                    values.append(per * n / t)
            rates[key] = Stat.of(values)  # from the runs that worked; failures are noted
        return rates

    def lost(self, name: str, n: int) -> dict[str, bool]:
        """Drivers whose host surfaced fewer units than the agent sent (0 = not counted)."""
        out = {}
        for key, results in self.runs.get(name, {}).items():
            bad = False
            for result in results:
                for units in result.get("units", []):
                    if units and units != n:
                        bad = True
            out[key] = bad
        return out

    def rss(self, name: str) -> dict[str, Stat | None]:
        return {
            key: Stat.of([r["maxrss_mb"] for r in results if "error" not in r])
            for key, results in self.runs.get(name, {}).items()
        }

    def storms_table(self) -> dict[str, dict[str, Stat | None]]:
        s = self.bench.sizes
        sizes = {"chunks": s.chunks, "tools": s.tools, "perms": s.perms}
        all_rates = {}
        self.lines += [
            "## Storms: throughput",
            "",
            f"One storm turn per driver process (after one trivial warm-up turn), "
            f"{s.rounds} interleaved round(s); median (min–max). Ratio = driver ÷ bare SDK.",
            "",
            "| driver | "
            + " | ".join(
                f"{title} ({sizes[key]:,}{' calls' if key == 'tools' else ''}) | ×SDK"
                for key, title, *_ in STORMS
            )
            + " |",
            "|---|" + "---:|---:|" * len(STORMS),
        ]
        for key, _title, _scenario, _unit, per in STORMS:
            all_rates[key] = self.storm_rates(key, per, sizes[key])
        lost = {key: self.lost(key, sizes[key]) for key, *_ in STORMS}
        for driver in STORM_DRIVERS:
            cells = []
            for key, _title, _scenario, _unit, _per in STORMS:
                rate = all_rates[key].get(driver)
                if rate is None:
                    cells += [self.na(self.runs[key][driver]), ""]
                    continue
                mark = " ⚠ lost updates" if lost[key].get(driver) else ""
                mark += self.failed(self.runs[key][driver])
                sdk = all_rates[key].get("sdk")
                cells += [
                    fmt_stat(rate, "/s") + mark,
                    fmt_ratio(ratio(rate.med, sdk.med if sdk else None)),
                ]
            self.lines.append(f"| {self.labels[driver]} | " + " | ".join(cells) + " |")
        self.lines += [
            "",
            "Units: chunk and tool-call storms in session updates per second (a tool call is 3"
            " updates: pending, in_progress, completed); permission storm in answered requests"
            " per second (the agent waits for each answer).",
            "",
        ]
        return all_rates

    def rss_table(self) -> dict[str, dict[str, Stat | None]]:
        out = {}
        self.lines += [
            "## Peak RSS of the host process",
            "",
            "`ru_maxrss` of the driver process (agents excluded) after its storm; median (min–max)."
            " Ratio = driver ÷ bare SDK.",
            "",
            "| driver | " + " | ".join(f"{t} | ×SDK" for _k, t, *_ in STORMS) + " |",
            "|---|" + "---:|---:|" * len(STORMS),
        ]
        for key, *_ in STORMS:
            out[key] = self.rss(key)
        for driver in STORM_DRIVERS:
            cells = []
            for key, *_ in STORMS:
                stat = out[key].get(driver)
                sdk = out[key].get("sdk")
                if stat is None:
                    cells += [self.na(self.runs[key][driver]), ""]
                else:
                    cells += [
                        fmt_stat(stat, "MB"),
                        fmt_ratio(ratio(stat.med, sdk.med if sdk else None)),
                    ]
            self.lines.append(f"| {self.labels[driver]} | " + " | ".join(cells) + " |")
        self.lines.append("")
        return out

    def trivial_table(self) -> dict[str, tuple[Stat | None, Stat | None]]:
        s = self.bench.sizes
        out: dict[str, tuple[Stat | None, Stat | None]] = {}
        self.lines += [
            "## Trivial turns: per-turn time",
            "",
            f"{s.trivial_turns} sequential turns (prompt → one chunk → usage → end_turn) in one"
            f" conversation; per round the median and p99 of its turns, then the median (min–max)"
            f" over {s.rounds} round(s).",
            "",
            "| driver | median turn | ×SDK | p99 turn | ×SDK |",
            "|---|---:|---:|---:|---:|",
        ]
        for driver, results in self.runs.get("trivial", {}).items():
            ok = [r for r in results if "error" not in r and r.get("turn_s")]
            out[driver] = (
                Stat.of([median(r["turn_s"]) for r in ok]),
                Stat.of([percentile(r["turn_s"], 99) for r in ok]),
            )
        sdk_med, sdk_p99 = out.get("sdk", (None, None))
        for driver in STORM_DRIVERS:
            med, p99 = out.get(driver, (None, None))
            if med is None or p99 is None:
                self.lines.append(
                    f"| {self.labels[driver]} | {self.na(self.runs['trivial'][driver])} | | | |"
                )
                continue
            self.lines.append(
                f"| {self.labels[driver]} | {fmt_stat(med, 'ms')}"
                f"{self.failed(self.runs['trivial'][driver])} | "
                f"{fmt_ratio(ratio(med.med, sdk_med.med if sdk_med else None))} | "
                f"{fmt_stat(p99, 'ms')} | "
                f"{fmt_ratio(ratio(p99.med, sdk_p99.med if sdk_p99 else None))} |"
            )
        self.lines.append("")
        return out

    def growth_table(self) -> dict[str, dict[str, float]]:
        s = self.bench.sizes
        out: dict[str, dict[str, float]] = {}
        self.lines += [
            "## Growth: one conversation, many tool-call turns",
            "",
            f"{s.growth_turns} turns of {s.growth_tools:,} tool calls each in one conversation"
            " (one run). First/last = median of the first/last 5 turns (the single turns are in"
            " brackets). RSS: the host process after the last turn.",
            "",
            "| driver | turns run | first turns | last turns | last ÷ first | RSS at the end |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for driver in STORM_DRIVERS:
            results = self.runs.get("growth", {}).get(driver, [])
            if not results or "error" in results[0]:
                self.lines.append(f"| {self.labels[driver]} | {self.na(results)} | | | | |")
                continue
            times = results[0]["turn_s"]
            rss = results[0].get("rss_end_mb")
            k = min(5, max(1, len(times) // 2))
            first, last = median(times[:k]), median(times[-k:])
            out[driver] = {
                "first": first,
                "last": last,
                "ratio": last / first,
                "turn1": times[0],
                "turnN": times[-1],
                "single_ratio": times[-1] / times[0],
                "turns": len(times),
            }
            note = "" if len(times) == s.growth_turns else " (time budget)"
            self.lines.append(
                f"| {self.labels[driver]} | {len(times)}{note} | "
                f"{fmt_num(first, 'ms')} [{fmt_num(times[0], 'ms')}] | "
                f"{fmt_num(last, 'ms')} [{fmt_num(times[-1], 'ms')}] | "
                f"{fmt_ratio(last / first)} [{fmt_ratio(times[-1] / times[0])}] | "
                f"{fmt_num(rss, 'MB') if rss is not None else 'n/a'} |"
            )
        self.lines.append("")
        return out

    def startup_table(self) -> dict[str, Stat | None]:
        out: dict[str, Stat | None] = {}
        self.lines += [
            "## Start-up to first prompt",
            "",
            "In the driver process, from its first statement (before importing the library) until"
            " the agent is spawned, initialized and has a session: median (min–max) over every"
            " run of the storms and trivial turns. Interpreter start-up is not included.",
            "",
            "| driver | start-up to first prompt | of which library import | ×SDK |",
            "|---|---:|---:|---:|",
        ]
        imports: dict[str, Stat | None] = {}
        for driver in STORM_DRIVERS:
            ready, imp = [], []
            for name in ("chunks", "tools", "perms", "trivial"):
                for result in self.runs.get(name, {}).get(driver, []):
                    if "error" not in result:
                        ready.append(result["ready_s"])
                        imp.append(result["import_s"])
            out[driver], imports[driver] = Stat.of(ready), Stat.of(imp)
        sdk = out.get("sdk")
        for driver in STORM_DRIVERS:
            stat = out[driver]
            if stat is None:
                self.lines.append(
                    f"| {self.labels[driver]} | {self.na(self.runs['chunks'][driver])} | | |"
                )
                continue
            self.lines.append(
                f"| {self.labels[driver]} | {fmt_stat(stat, 'ms')} | "
                f"{fmt_stat(imports[driver], 'ms')} | "
                f"{fmt_ratio(ratio(stat.med, sdk.med if sdk else None))} |"
            )
        self.lines.append("")
        return out

    def import_table(self) -> dict[str, Stat | None]:
        data = self.bench.results.get("imports", {})
        times, errors = data.get("times", {}), data.get("errors", {})
        out = {label: Stat.of(values) for label, values in times.items()}
        base = out.get("import acp")
        self.lines += [
            "## Import time",
            "",
            f"`time.perf_counter()` around the statement in a fresh interpreter (warm disk cache),"
            f" {self.bench.sizes.import_runs} interleaved runs; median (min–max)."
            " Ratio = ÷ `import acp`.",
            "",
            "| statement | time | × import acp |",
            "|---|---:|---:|",
        ]
        for label, stat in out.items():
            if stat is None:
                reason = self.na([{"error": errors.get(label, "no runs")}])
                self.lines.append(f"| `{label}` | {reason} | |")
                continue
            self.lines.append(
                f"| `{label}` | {fmt_stat(stat, 'ms')} | "
                f"{fmt_ratio(ratio(stat.med, base.med if base else None))} |"
            )
        self.lines += [
            "",
            "`import acphost` is lazy (the public names load on first use); "
            "`from acphost import Conversation` is what a program that hosts an agent pays.",
            "",
        ]
        return out

    def concurrency_table(self) -> dict[str, dict[str, float]]:
        s = self.bench.sizes
        out: dict[str, dict[str, float]] = {}
        self.lines += [
            f"## {s.conversations} concurrent conversations in one process (acphost `arun()`)",
            "",
            f"Each of {s.conversations} conversations has its own agent process and runs"
            f" {s.concurrent_turns} trivial turns; all share one SQLite store, one callback each."
            " *Back to back*: every conversation starts its next turn as soon as the last ends"
            f" (the worst case). *Paced*: a random pause of 0–{2 * s.paced_think_s:g} s before"
            " each turn, as users would. Baseline: one conversation alone, same pacing, in the"
            " same process first. Overhead = p99 with N − p99 alone. RSS is the host process's"
            " own (agents excluded).",
            "",
            "| load | alone p50 / p99 | N at once p50 / p99 | p99 overhead | host RSS |"
            " host peak RSS | turns/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, title in (("concurrent", "back to back"), ("paced", "paced")):
            results = self.runs.get(name, {}).get("concurrent", [])
            if not results or "error" in results[0]:
                self.lines.append(f"| {title} | {self.na(results)} | | | | | |")
                continue
            r = results[0]
            single, many = r["single_turn_s"], r["many_turn_s"]
            row = {
                "single_p50": percentile(single, 50),
                "single_p99": percentile(single, 99),
                "many_p50": percentile(many, 50),
                "many_p99": percentile(many, 99),
                "rss": r["rss_many_mb"],
                # ru_maxrss lags the current RSS a little; the peak is at least what was seen
                "maxrss": max(r["maxrss_many_mb"], r["rss_many_mb"]),
                "tps": len(many) / r["wall_s"],
            }
            row["overhead"] = row["many_p99"] - row["single_p99"]
            out[name] = row
            self.lines.append(
                f"| {title} | {fmt_num(row['single_p50'], 'ms')} / "
                f"{fmt_num(row['single_p99'], 'ms')} | {fmt_num(row['many_p50'], 'ms')} / "
                f"{fmt_num(row['many_p99'], 'ms')} | {fmt_num(row['overhead'], 'ms')} | "
                f"{fmt_num(row['rss'], 'MB')} | {fmt_num(row['maxrss'], 'MB')} | "
                f"{row['tps']:.0f} |"
            )
        self.lines.append("")
        return out

    # -- targets ------------------------------------------------------------------------------

    def target(self, what: str, measured: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("yes" if met else "**no**")
        self.targets.append((what, measured, verdict))

    def both(self, values: dict[str, float | None], fmt: Callable[[float], str]) -> str:
        return "; ".join(
            f"{self.labels[k]} {fmt(v) if v is not None else 'n/a'}" for k, v in values.items()
        )

    def all_met(self, values: Sequence[float | None], ok: Callable[[float], bool]) -> bool | None:
        if any(v is None for v in values):
            return None
        return all(ok(v) for v in values)  # type: ignore[arg-type]

    def compute_targets(
        self,
        rates: dict[str, dict[str, Stat | None]],
        rss: dict[str, dict[str, Stat | None]],
        trivial: dict[str, tuple[Stat | None, Stat | None]],
        growth: dict[str, dict[str, float]],
        imports: dict[str, Stat | None],
        conc: dict[str, dict[str, float]],
    ) -> None:
        hosts = ["acphost-run", "acphost-arun"]

        def med(stat: Stat | None) -> float | None:
            return stat.med if stat is not None else None

        def vs(key: str, other: str, minimum: float, what: str) -> None:
            values = {h: ratio(med(rates[key].get(h)), med(rates[key].get(other))) for h in hosts}
            self.target(
                what,
                self.both(values, fmt_ratio),
                self.all_met(list(values.values()), lambda v: v >= minimum),
            )

        vs("chunks", "sdk", 1.5, "chunk storm ≥ 1.5× bare SDK updates/s")
        vs("chunks", "openhands", 2.0, "chunk storm ≥ 2× OpenHands updates/s")
        vs("tools", "sdk", 1.0, "tool-call storm ≥ 1.0× bare SDK (acphost persisting)")
        vs("tools", "openhands-persist", 20.0, "tool-call storm ≥ 20× OpenHands with persistence")
        vs("perms", "sdk", 1.0, "permission storm ≥ 1.0× bare SDK (acphost persisting)")
        vs("perms", "openhands-persist", 20.0, "permission storm ≥ 20× OpenHands w/ persistence")
        values = {h: med(trivial.get(h, (None, None))[0]) for h in hosts}
        self.target(
            "trivial turn ≤ 0.5 ms median, persistence on",
            self.both(values, lambda v: fmt_num(v, "ms")),
            self.all_met(list(values.values()), lambda v: v <= 0.0005),
        )
        values = {h: growth[h]["ratio"] if h in growth else None for h in hosts}
        singles = {h: growth[h]["single_ratio"] if h in growth else None for h in hosts}
        self.target(
            f"turn {self.bench.sizes.growth_turns} ≤ 1.1× turn 1"
            f" ({self.bench.sizes.growth_tools:,} tool calls a turn)",
            self.both(values, fmt_ratio)
            + " (median of last 5 ÷ first 5); single turns: "
            + self.both(singles, fmt_ratio),
            self.all_met(list(values.values()), lambda v: v <= 1.1),
        )
        for key, title, *_ in STORMS:
            values = {h: ratio(med(rss[key].get(h)), med(rss[key].get("sdk"))) for h in hosts}
            self.target(
                f"peak RSS in the {title} ≤ 1.2× bare SDK",
                self.both(values, fmt_ratio),
                self.all_met(list(values.values()), lambda v: v <= 1.2),
            )
        base = med(imports.get("import acp"))
        lazy = ratio(med(imports.get("import acphost")), base)
        full = ratio(med(imports.get("from acphost import Conversation")), base)
        self.target(
            "`import acphost` ≤ 1.2× `import acp`",
            f"{fmt_ratio(lazy)} (`from acphost import Conversation`: {fmt_ratio(full)})",
            None if lazy is None else lazy <= 1.2,
        )
        n = self.bench.sizes.conversations
        for name, title in (("concurrent", "back to back"), ("paced", "paced")):
            row = conc.get(name)
            self.target(
                f"{n} concurrent conversations ({title}): host RSS ≤ 150 MB",
                fmt_num(row["rss"], "MB") + f" (peak {fmt_num(row['maxrss'], 'MB')})"
                if row
                else "n/a",
                None if row is None else row["maxrss"] <= 150,
            )
            self.target(
                f"{n} concurrent conversations ({title}): p99 turn overhead ≤ 20 ms",
                fmt_num(row["overhead"], "ms") if row else "n/a",
                None if row is None else row["overhead"] <= 0.020,
            )

    # -- all ----------------------------------------------------------------------------------

    def render(self) -> str:
        b = self.bench
        rates = self.storms_table()
        trivial = self.trivial_table()
        growth = self.growth_table()
        rss = self.rss_table()
        startup = self.startup_table()
        imports = self.import_table()
        conc = self.concurrency_table()
        del startup
        self.compute_targets(rates, rss, trivial, growth, imports, conc)
        mode = "quick (smoke-sized)" if b.quick else "full"
        head = [
            "# Benchmarks: acphost side by side",
            "",
            f"Generated by `python benchmarks/run.py{' --quick' if b.quick else ''}` "
            f"({mode} run, {b.elapsed() / 60:.1f} min) on {b.generated}."
            " Every driver runs the same storm agent (`benchmarks/storm_agent.py`) in its own"
            " process; drivers are interleaved round by round. What each figure means:"
            " `benchmarks/README.md`.",
            "",
            "## Machine",
            "",
            f"- acphost revision: `{b.revision}` (the work tree measured; `-dirty` = with"
            " uncommitted changes)",
            *machine(b.host_python, (b.load_start, b.load_end)),
            "",
            "## Targets (ratios from this run)",
            "",
            "| target | measured | met? |",
            "|---|---|---|",
            *[f"| {what} | {measured} | {met} |" for what, measured, met in self.targets],
            "",
        ]
        if b.quick:
            head += [
                "_A `--quick` run uses smaller sizes and one round: a smoke test of the harness,"
                " not the figures to quote._",
                "",
            ]
        return "\n".join(head + self.lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (~2 min)")
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument(
        "--report",
        metavar="RESULTS_JSON",
        help="run nothing: write RESULTS.md again from a saved results.json",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset: storms,trivial,growth,concurrency,imports (for debugging)",
    )
    args = parser.parse_args()
    if args.report:
        write_report(rerender(Path(args.report)))
        return
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    bench = Bench(sizes, args.quick)
    for driver in bench.drivers.values():
        if driver.unavailable:
            log(f"{driver.label}: n/a ({driver.unavailable})")
    parts = {
        "storms": bench.storms,
        "trivial": bench.trivial,
        "growth": bench.growth,
        "concurrency": bench.concurrency,
        "imports": bench.imports,
    }
    only = [p for p in args.only.split(",") if p]
    for name, step in parts.items():
        if not only or name in only:
            step()
        else:
            bench.results["runs"].setdefault(name, {})
    for name in ("chunks", "tools", "perms", "trivial", "growth"):
        runs = bench.results["runs"].setdefault(name, {})
        for key in STORM_DRIVERS:
            runs.setdefault(key, [{"error": "not run (--only)"}])
    bench.load_end = os.getloadavg()
    bench.elapsed_s = bench.elapsed()
    raw = {
        "quick": bench.quick,
        "sizes": bench.sizes.__dict__,
        "elapsed_s": bench.elapsed_s,
        "load_start": bench.load_start,
        "load_end": bench.load_end,
        "generated": bench.generated,
        "revision": bench.revision,
        **bench.results,
    }
    (HERE / "results.json").write_text(json.dumps(raw, indent=1))
    write_report(bench)


def write_report(bench: Bench) -> None:
    text = Report(bench).render()
    (HERE / "RESULTS.md").write_text(text)
    sys.stdout.write(text)


def rerender(path: Path) -> Bench:
    """A Bench holding a saved run (``results.json``), to render its report again."""
    data = json.loads(path.read_text())
    bench = Bench(Sizes(**data["sizes"]), bool(data.get("quick")))
    bench.results = {"runs": data.get("runs", {}), "imports": data.get("imports", {})}
    bench.elapsed_s = data.get("elapsed_s", 0.0)
    bench.load_start = data.get("load_start")
    bench.load_end = data.get("load_end")
    bench.generated = data.get("generated", "an earlier run")
    bench.revision = data.get("revision", "unknown")
    for name in ("chunks", "tools", "perms", "trivial", "growth"):
        runs = bench.results["runs"].setdefault(name, {})
        for key in STORM_DRIVERS:
            runs.setdefault(key, [{"error": "not in the saved results"}])
    return bench


if __name__ == "__main__":
    main()
