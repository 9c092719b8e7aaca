"""The storm sections: throughput, peak RSS, trivial turns and growth, driver by driver."""

from __future__ import annotations

from _bench.config import STORM_DRIVERS, STORMS
from _bench.sheet import Sheet
from _bench.stats import Stat, fmt_num, fmt_ratio, fmt_stat, median, percentile, ratio


def _storm_rates(sheet: Sheet, name: str, per: int, n: int) -> dict[str, Stat | None]:
    rates: dict[str, Stat | None] = {}
    for key, results in sheet.runs.get(name, {}).items():
        values = []
        for result in results:
            if "error" in result:
                continue
            for t in result["turn_s"]:
                values.append(per * n / t)
        rates[key] = Stat.of(values)  # from the runs that worked; failures are noted
    return rates


def _lost(sheet: Sheet, name: str, n: int) -> dict[str, bool]:
    """Drivers whose host surfaced fewer units than the agent sent (0 = not counted)."""
    out = {}
    for key, results in sheet.runs.get(name, {}).items():
        bad = False
        for result in results:
            for units in result.get("units", []):
                if units and units != n:
                    bad = True
        out[key] = bad
    return out


def _rss(sheet: Sheet, name: str) -> dict[str, Stat | None]:
    return {
        key: Stat.of([r["maxrss_mb"] for r in results if "error" not in r])
        for key, results in sheet.runs.get(name, {}).items()
    }


def storms_table(sheet: Sheet) -> dict[str, dict[str, Stat | None]]:
    s = sheet.bench.sizes
    sizes = {"chunks": s.chunks, "tools": s.tools, "perms": s.perms}
    all_rates = {}
    sheet.lines += [
        "## Storms: throughput",
        "",
        f"One storm turn per driver process (after one trivial warm-up turn), "
        f"{s.rounds} interleaved round(s)"
        + (
            f" ({s.perms_rounds} for the permission storm, whose turn is short and so noisy)"
            if s.perms_rounds != s.rounds
            else ""
        )
        + "; median (min–max). Ratio = driver ÷ bare SDK.",
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
        all_rates[key] = _storm_rates(sheet, key, per, sizes[key])
    lost = {key: _lost(sheet, key, sizes[key]) for key, *_ in STORMS}
    for driver in STORM_DRIVERS:
        cells = []
        for key, _title, _scenario, _unit, _per in STORMS:
            rate = all_rates[key].get(driver)
            if rate is None:
                cells += [sheet.na(sheet.runs[key][driver]), ""]
                continue
            mark = " ⚠ lost updates" if lost[key].get(driver) else ""
            mark += sheet.failed(sheet.runs[key][driver])
            sdk = all_rates[key].get("sdk")
            cells += [
                fmt_stat(rate, "/s") + mark,
                fmt_ratio(ratio(rate.med, sdk.med if sdk else None)),
            ]
        sheet.lines.append(f"| {sheet.labels[driver]} | " + " | ".join(cells) + " |")
    sheet.lines += [
        "",
        "Units: chunk and tool-call storms in session updates per second (a tool call is 3"
        " updates: pending, in_progress, completed); permission storm in answered requests"
        " per second (the agent waits for each answer).",
        "",
    ]
    return all_rates


def rss_table(sheet: Sheet) -> dict[str, dict[str, Stat | None]]:
    out = {}
    sheet.lines += [
        "## Peak RSS of the host process",
        "",
        "`ru_maxrss` of the driver process (agents excluded) after its storm; median (min–max)."
        " Ratio = driver ÷ bare SDK.",
        "",
        "| driver | " + " | ".join(f"{t} | ×SDK" for _k, t, *_ in STORMS) + " |",
        "|---|" + "---:|---:|" * len(STORMS),
    ]
    for key, *_ in STORMS:
        out[key] = _rss(sheet, key)
    for driver in STORM_DRIVERS:
        cells = []
        for key, *_ in STORMS:
            stat = out[key].get(driver)
            sdk = out[key].get("sdk")
            if stat is None:
                cells += [sheet.na(sheet.runs[key][driver]), ""]
            else:
                cells += [
                    fmt_stat(stat, "MB"),
                    fmt_ratio(ratio(stat.med, sdk.med if sdk else None)),
                ]
        sheet.lines.append(f"| {sheet.labels[driver]} | " + " | ".join(cells) + " |")
    sheet.lines.append("")
    return out


def trivial_table(sheet: Sheet) -> dict[str, tuple[Stat | None, Stat | None]]:
    s = sheet.bench.sizes
    out: dict[str, tuple[Stat | None, Stat | None]] = {}
    sheet.lines += [
        "## Trivial turns: per-turn time",
        "",
        f"{s.trivial_turns} sequential turns (prompt → one chunk → usage → end_turn) in one"
        f" conversation; per round the median and p99 of its turns, then the median (min–max)"
        f" over {s.rounds} round(s).",
        "",
        "| driver | median turn | ×SDK | p99 turn | ×SDK |",
        "|---|---:|---:|---:|---:|",
    ]
    for driver, results in sheet.runs.get("trivial", {}).items():
        ok = [r for r in results if "error" not in r and r.get("turn_s")]
        out[driver] = (
            Stat.of([median(r["turn_s"]) for r in ok]),
            Stat.of([percentile(r["turn_s"], 99) for r in ok]),
        )
    sdk_med, sdk_p99 = out.get("sdk", (None, None))
    for driver in STORM_DRIVERS:
        med, p99 = out.get(driver, (None, None))
        if med is None or p99 is None:
            sheet.lines.append(
                f"| {sheet.labels[driver]} | {sheet.na(sheet.runs['trivial'][driver])} | | | |"
            )
            continue
        sheet.lines.append(
            f"| {sheet.labels[driver]} | {fmt_stat(med, 'ms')}"
            f"{sheet.failed(sheet.runs['trivial'][driver])} | "
            f"{fmt_ratio(ratio(med.med, sdk_med.med if sdk_med else None))} | "
            f"{fmt_stat(p99, 'ms')} | "
            f"{fmt_ratio(ratio(p99.med, sdk_p99.med if sdk_p99 else None))} |"
        )
    sheet.lines.append("")
    return out


def growth_table(sheet: Sheet) -> dict[str, dict[str, float]]:
    s = sheet.bench.sizes
    out: dict[str, dict[str, float]] = {}
    sheet.lines += [
        "## Growth: one conversation, many tool-call turns",
        "",
        f"{s.growth_turns} turns of {s.growth_tools:,} tool calls each in one conversation, one"
        " conversation per run, runs interleaved. First/last = median of the first/last 5 turns"
        " of a run (the single first and last turns in brackets); each figure is the median"
        " over the runs, and the ratios of every run follow. RSS: the host process after the"
        " last turn.",
        "",
        "| driver | runs × turns | first turns | last turns | last ÷ first | every run's ratio"
        " | RSS at the end |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for driver in STORM_DRIVERS:
        results = sheet.runs.get("growth", {}).get(driver, [])
        runs = [r for r in results if "error" not in r and r.get("turn_s")]
        if not runs:
            sheet.lines.append(f"| {sheet.labels[driver]} | {sheet.na(results)} | | | | | |")
            continue
        per_run = []
        for run in runs:
            times = run["turn_s"]
            k = min(5, max(1, len(times) // 2))
            first, last = median(times[:k]), median(times[-k:])
            per_run.append((first, last, times[0], times[-1], len(times)))
        first = median([r[0] for r in per_run])
        last = median([r[1] for r in per_run])
        ratios = [r[1] / r[0] for r in per_run]
        singles = [r[3] / r[2] for r in per_run]
        turns = min(r[4] for r in per_run)
        out[driver] = {
            "first": first,
            "last": last,
            "ratio": median(ratios),
            "single_ratio": median(singles),
            "turns": turns,
        }
        rss = [r["rss_end_mb"] for r in runs if r.get("rss_end_mb") is not None]
        note = "" if turns == s.growth_turns else " (time budget)"
        failed = len(results) - len(runs)
        failures = f" ({failed} of {len(results)} runs failed)" if failed else ""
        sheet.lines.append(
            f"| {sheet.labels[driver]} | {len(runs)} × {turns}{note}{failures} | "
            f"{fmt_num(first, 'ms')} [{fmt_num(median([r[2] for r in per_run]), 'ms')}] | "
            f"{fmt_num(last, 'ms')} [{fmt_num(median([r[3] for r in per_run]), 'ms')}] | "
            f"{fmt_ratio(median(ratios))} [{fmt_ratio(median(singles))}] | "
            f"{', '.join(fmt_ratio(x) for x in ratios)} | "
            f"{fmt_num(median(rss), 'MB') if rss else 'n/a'} |"
        )
    sheet.lines.append("")
    return out
