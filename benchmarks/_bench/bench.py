"""One benchmark run: its sizes, its drivers, the interleaved rounds, and its saved numbers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _bench.config import STORM_DRIVERS, STORM_RUNS, WS_DRIVERS, Sizes, saved_sizes
from _bench.drivers import make_drivers, run_driver
from _bench.env import find_host_python, log, revision
from _bench.stats import median


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
        self.revision = revision()

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

    def fill_missing(self, reason: str) -> None:
        """Every driver of every table gets a result, if only ``{"error": reason}``."""
        for name, keys in [*((n, STORM_DRIVERS) for n in STORM_RUNS), ("ws", WS_DRIVERS)]:
            runs = self.results["runs"].setdefault(name, {})
            for key in keys:
                runs.setdefault(key, [{"error": reason}])

    def save(self, path: Path) -> None:
        raw = {
            "quick": self.quick,
            "sizes": self.sizes.__dict__,
            "elapsed_s": self.elapsed_s,
            "load_start": self.load_start,
            "load_end": self.load_end,
            "generated": self.generated,
            "revision": self.revision,
            **self.results,
        }
        path.write_text(json.dumps(raw, indent=1))


def rerender(path: Path) -> Bench:
    """A Bench holding a saved run (``results.json``), to render its report again."""
    data = json.loads(path.read_text())
    quick = bool(data.get("quick"))
    bench = Bench(saved_sizes(data["sizes"], quick), quick)
    bench.results = {"runs": data.get("runs", {}), "imports": data.get("imports", {})}
    bench.elapsed_s = data.get("elapsed_s", 0.0)
    bench.load_start = data.get("load_start")
    bench.load_end = data.get("load_end")
    bench.generated = data.get("generated", "an earlier run")
    bench.revision = data.get("revision", "unknown")
    bench.fill_missing("not in the saved results")
    return bench


def _brief(result: dict[str, Any]) -> str:
    if "sub_events" in result:  # the WebSocket fan-out
        subs = len(result["sub_events"])
        return (
            f"{result['events']:,} events × {subs} subscriber(s) in {result['fanout_s']:.2f} s,"
            f" {result['kicked']} closed as slow, {result['disorder']} out of order,"
            f" {result['incomplete']} incomplete"
        )
    turns = result.get("turn_s") or result.get("many_turn_s") or []
    if not turns:
        return "ok"
    return f"turn median {median(turns) * 1000:.2f} ms over {len(turns)}"
