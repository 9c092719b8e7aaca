"""The report being written: its lines, its targets, and how a failed run is shown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from _bench.bench import Bench


class Sheet:
    """What every section writer shares; sections append to ``lines``, targets to ``targets``."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.runs: dict[str, dict[str, list[dict[str, Any]]]] = bench.results["runs"]
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

    # -- targets ----------------------------------------------------------------------------

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
        return all(ok(v) for v in values if v is not None)
