"""Medians, percentiles, min–max spreads, and how numbers and ratios are printed."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


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
