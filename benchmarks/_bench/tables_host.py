"""Start-up, import time and many concurrent conversations in one process."""

from __future__ import annotations

from _bench.config import STORM_DRIVERS
from _bench.sheet import Sheet
from _bench.stats import Stat, fmt_num, fmt_ratio, fmt_stat, percentile, ratio


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


def concurrency_table(sheet: Sheet) -> dict[str, dict[str, float]]:
    s = sheet.bench.sizes
    out: dict[str, dict[str, float]] = {}
    sheet.lines += [
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
        results = sheet.runs.get(name, {}).get("concurrent", [])
        if not results or "error" in results[0]:
            sheet.lines.append(f"| {title} | {sheet.na(results)} | | | | | |")
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
        sheet.lines.append(
            f"| {title} | {fmt_num(row['single_p50'], 'ms')} / "
            f"{fmt_num(row['single_p99'], 'ms')} | {fmt_num(row['many_p50'], 'ms')} / "
            f"{fmt_num(row['many_p99'], 'ms')} | {fmt_num(row['overhead'], 'ms')} | "
            f"{fmt_num(row['rss'], 'MB')} | {fmt_num(row['maxrss'], 'MB')} | "
            f"{row['tps']:.0f} |"
        )
    sheet.lines.append("")
    return out
