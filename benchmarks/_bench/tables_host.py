"""Start-up, import time and many concurrent conversations in one process."""

from __future__ import annotations

from typing import Any

from _bench.config import CONC_DRIVERS, CONC_LOADS, STORM_DRIVERS
from _bench.sheet import Sheet
from _bench.stats import Stat, fmt_num, fmt_ratio, fmt_stat, median, percentile, ratio


def startup_table(sheet: Sheet) -> dict[str, Stat | None]:
    out: dict[str, Stat | None] = {}
    sheet.lines += [
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
            for result in sheet.runs.get(name, {}).get(driver, []):
                if "error" not in result:
                    ready.append(result["ready_s"])
                    imp.append(result["import_s"])
        out[driver], imports[driver] = Stat.of(ready), Stat.of(imp)
    sdk = out.get("sdk")
    for driver in STORM_DRIVERS:
        stat = out[driver]
        if stat is None:
            sheet.lines.append(
                f"| {sheet.labels[driver]} | {sheet.na(sheet.runs['chunks'][driver])} | | |"
            )
            continue
        sheet.lines.append(
            f"| {sheet.labels[driver]} | {fmt_stat(stat, 'ms')} | "
            f"{fmt_stat(imports[driver], 'ms')} | "
            f"{fmt_ratio(ratio(stat.med, sdk.med if sdk else None))} |"
        )
    sheet.lines.append("")
    return out


def import_table(sheet: Sheet) -> dict[str, Stat | None]:
    data = sheet.bench.results.get("imports", {})
    times, errors = data.get("times", {}), data.get("errors", {})
    out = {label: Stat.of(values) for label, values in times.items()}
    base = out.get("import acp")
    sheet.lines += [
        "## Import time",
        "",
        f"`time.perf_counter()` around the statement in a fresh interpreter (warm disk cache),"
        f" {sheet.bench.sizes.import_runs} interleaved runs; median (min–max)."
        " Ratio = ÷ `import acp`.",
        "",
        "| statement | time | × import acp |",
        "|---|---:|---:|",
    ]
    for label, stat in out.items():
        if stat is None:
            reason = sheet.na([{"error": errors.get(label, "no runs")}])
            sheet.lines.append(f"| `{label}` | {reason} | |")
            continue
        sheet.lines.append(
            f"| `{label}` | {fmt_stat(stat, 'ms')} | "
            f"{fmt_ratio(ratio(stat.med, base.med if base else None))} |"
        )
    sheet.lines += [
        "",
        "`import acphost` is lazy (the public names load on first use); "
        "`from acphost import Conversation` is what a program that hosts an agent pays.",
        "",
    ]
    return out


def _conc_row(r: dict[str, Any]) -> dict[str, float]:
    """One run's figures."""
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
    return row


def concurrency_table(sheet: Sheet) -> dict[str, dict[str, float]]:
    """Keyed by load (``concurrent``, ``paced``) for acphost, ``<load>-sdk`` for the bare SDK:
    each figure the median over the runs (a saved run may lack the SDK: it is then n/a)."""
    s = sheet.bench.sizes
    out: dict[str, dict[str, float]] = {}
    sheet.lines += [
        f"## {s.conversations} concurrent conversations in one process"
        " (acphost `arun()`, bare SDK)",
        "",
        f"Each of {s.conversations} conversations has its own agent process and runs"
        f" {s.concurrent_turns} trivial turns. acphost: all share one SQLite store, one"
        " callback each. Bare SDK (`drive_concurrent_sdk.py`): one `acp` connection each, whose"
        " client only appends the updates to a list: no store, no state, the floor for a host"
        " on this machine. *Back to back*: every conversation starts its next turn as soon as"
        " the last ends (the worst case). *Paced*: a random pause of"
        f" 0–{2 * s.paced_think_s:g} s before each turn, as users would. Baseline: one"
        " conversation alone, same pacing, in the same process first. Overhead = p99 with N"
        " − p99 alone. RSS is the host process's own (agents excluded). The two hosts run"
        " interleaved; each figure is the median over the runs, the overhead's (min–max).",
        "",
        "| load | host | alone p50 / p99 | N at once p50 / p99 | p99 overhead | host RSS |"
        " host peak RSS | turns/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, title in CONC_LOADS:
        for key, label, _script in CONC_DRIVERS:
            run = sheet.runs.get(name)
            results = (run or {}).get(key) or [
                # a results.json from before the SDK peer has the acphost rows only
                {"error": "not run" if run is None else "not in these results"}
            ]
            rows = [_conc_row(r) for r in results if "error" not in r]
            if not rows:
                sheet.lines.append(f"| {title} | {label} | {sheet.na(results)} | | | | | |")
                continue
            row = {k: median([r[k] for r in rows]) for k in rows[0]}
            out[name if key == "concurrent" else f"{name}-sdk"] = row
            spread = Stat.of([r["overhead"] for r in rows])
            sheet.lines.append(
                f"| {title} | {label}{sheet.failed(results)} |"
                f" {fmt_num(row['single_p50'], 'ms')} / {fmt_num(row['single_p99'], 'ms')} |"
                f" {fmt_num(row['many_p50'], 'ms')} / {fmt_num(row['many_p99'], 'ms')} |"
                f" {fmt_stat(spread, 'ms')} | {fmt_num(row['rss'], 'MB')} |"
                f" {fmt_num(row['maxrss'], 'MB')} | {row['tps']:.0f} |"
            )
    host, sdk = out.get("concurrent"), out.get("concurrent-sdk")
    if host and sdk:
        n = s.conversations
        sheet.lines += [
            "",
            f"Back to back, {n} turns are always in flight, so the mean turn takes {n} ÷"
            f" turns/s (Little's law): {fmt_num(n / host['tps'], 'ms')} for acphost,"
            f" {fmt_num(n / sdk['tps'], 'ms')} for the bare SDK. Turns/s is capped by the CPU"
            " a turn costs (the host's under one GIL, the agents' on the same cores), so no"
            f" host gets that mean below {n} × its cost a turn; the bare SDK, which does next to"
            " nothing with a turn, shows where that floor lies on this machine.",
        ]
    sheet.lines.append("")
    return out
