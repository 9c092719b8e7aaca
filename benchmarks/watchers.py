#!/usr/bin/env python3
"""Watchers never slow the work: ``python benchmarks/watchers.py [--quick]``.

One tool-call storm (6,667 calls: 20,007 events) in ``acphost serve`` (a subprocess), watched
by 0, 1 and N WebSocket subscribers (default 50) in other processes, compression on as
browsers offer it (permessage-deflate). The subscribers ask for batches (``batch=true``) as the
console does; 1 and N subscribers of the one-event-per-message wire run too, side by side
(``--no-per-message`` leaves them out). The setups are interleaved round by round, each run a
fresh server (``drivers/drive_ws.py``). Writes ``benchmarks/WATCHERS.md`` and prints it.

The targets (issue 14): the storm turn with N subscribers takes at most 1.25x its time with
none (watchers fall behind and catch up; the agent never waits for them); every subscriber gets
every event, in order, with no gap or duplicate; the fan-out with N subscribers (events x
subscribers / s) is at least 5x the single subscriber's rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench.drivers import Driver, run_driver
from _bench.env import HERE, find_host_python, log
from _bench.machine import machine
from _bench.stats import Stat, median

TURN_LIMIT = 1.25
FANOUT_TARGET = 5.0


PER_MESSAGE = ", one event per message"  # the label's suffix of the batch=false setups


def run(
    tools: int, subscribers: int, rounds: int, timeout: float, per_message: bool
) -> dict[str, list[Any]]:
    python, reason = find_host_python()
    if reason:
        raise SystemExit(f"cannot run the server: {reason}")
    setups = [(0, True, "no subscriber"), (1, True, "1 subscriber")]
    setups.append((subscribers, True, f"{subscribers} subscribers"))
    if per_message:
        setups += [(1, False, "1 subscriber" + PER_MESSAGE)]
        setups += [(subscribers, False, f"{subscribers} subscribers" + PER_MESSAGE)]
    runs: dict[str, list[Any]] = {label: [] for _, _, label in setups}
    job = {"scenario": "tools", "n": tools, "compression": "deflate"}
    for r in range(rounds):
        for count, batch, label in setups:
            driver = Driver(f"ws-{count}", label, "drive_ws.py", python)
            spec = {**job, "subscribers": count, "batch": batch, "storm_timeout_s": timeout - 30}
            load = os.getloadavg()[0]
            result = run_driver(driver, driver.script, spec, timeout, python)
            result["round"], result["load"] = r + 1, load
            runs[label].append(result)
            brief = result.get("error") or (
                f"turn {result['server_turn_s']:.3f} s, fan-out {result['fanout_s']:.3f} s,"
                f" incomplete {result['incomplete']}, disorder {result['disorder']}"
            )
            log(f"round {r + 1}/{rounds} {label:<40} {brief}")
    return runs


def _fmt(stat: Stat | None, unit: str = "s", scale: float = 1.0) -> str:
    if stat is None:
        return "n/a"
    if unit == "s":
        return f"{stat.med:.3f} s ({stat.lo:.3f}–{stat.hi:.3f})"
    return f"{stat.med * scale:,.0f}{unit} ({stat.lo * scale:,.0f}–{stat.hi * scale:,.0f})"


def report(runs: dict[str, list[Any]], meta: dict[str, Any]) -> str:
    labels = list(runs)
    ok = {label: [r for r in runs[label] if "error" not in r] for label in labels}
    turn = {label: Stat.of([r["server_turn_s"] for r in ok[label]]) for label in labels}
    fanout = {
        label: Stat.of([r["events"] * r["subscribers"] / r["fanout_s"] for r in ok[label]])
        for label in labels
    }
    none, one, many = labels[:3]
    reniced = all(r.get("reniced") for r in ok[many])
    lines = [
        "# Watchers never slow the work",
        "",
        f"`python benchmarks/watchers.py` ({meta['when']}, commit {meta['commit']}): one"
        f" tool-call storm of {meta['tools']:,} calls in `acphost serve` (its own process),"
        " watched by WebSocket subscribers in two other processes (niced while the turn runs:"
        " they stand for browsers on other machines; "
        + ("at normal priority once it is over" if reniced else "niced to the end")
        + "), offering permessage-deflate as browsers do, and asking for batched events"
        " (`batch=true`) as the console does unless the setup says one event per message;"
        f" {meta['rounds']} interleaved round(s), a fresh server each run; median (min–max)."
        " The machine is shared: the load average below is what the figures were measured"
        " under.",
        "",
        *machine(meta["python"], meta["load"]),
        "",
        "| setup | storm turn in the server | fan-out (events × subscribers / s)"
        " | per-subscriber events/s | every subscriber complete, in order | closed as slow"
        " (4008) | server CPU | server CPU per event sent | subscribers' CPU | server peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    floor = median([r["server_cpu_s"] for r in ok[none]]) if ok[none] else 0.0
    for label in labels:
        rs = ok[label]
        subs = sum(r["subscribers"] for r in rs)
        complete = all(r["incomplete"] == 0 and r["disorder"] == 0 for r in rs)
        rates = [x for r in rs for x in r["sub_rate"]]
        lines.append(
            f"| {label} | {_fmt(turn[label])} | "
            + (_fmt(fanout[label], "/s") if subs else "–")
            + f" | {_fmt(Stat.of(rates), '/s') if rates else '–'}"
            + f" | {('yes' if complete else 'NO') if subs else '–'} ({subs} subscriber runs)"
            + f" | {sum(r['kicked'] for r in rs)}"
            + f" | {_fmt(Stat.of([r['server_cpu_s'] for r in rs]))}"
            + f" | {_per_event(rs, floor)}"
            + f" | {_fmt(Stat.of([r['client_cpu_s'] for r in rs])) if subs else '–'}"
            + f" | {_fmt(Stat.of([r['server_maxrss_mb'] for r in rs]), ' MB')} |"
        )
    failed = {label: len(runs[label]) - len(ok[label]) for label in labels}
    if any(failed.values()):
        lines += ["", f"Failed runs: {failed} (first error: {_first_error(runs)})"]
    lines += ["", "## Targets", ""]
    if turn[none] and turn[many]:
        ratio = turn[many].med / turn[none].med
        verdict = "met" if ratio <= TURN_LIMIT else "NOT met"
        lines.append(
            f"- Storm turn with {many} ÷ with {none}: {ratio:.2f}× (target ≤ {TURN_LIMIT}×):"
            f" {verdict}."
        )
    watched = [r for label in labels[1:] for r in ok[label]]
    complete = all(r["incomplete"] == 0 and r["disorder"] == 0 for r in watched)
    lines.append(
        "- Every subscriber got every event in order, no gap or duplicate: "
        + ("yes." if complete else "NO.")
    )
    if fanout[one] and fanout[many]:
        gain = fanout[many].med / fanout[one].med
        verdict = "met" if gain >= FANOUT_TARGET else "NOT met"
        lines.append(
            f"- Fan-out with {many} ÷ with {one}: {gain:.1f}× (target ≥ {FANOUT_TARGET}×):"
            f" {verdict}."
        )
    if len(labels) == 5:
        lines.append(_per_message(labels, turn, fanout))
    lines += ["", *_rounds(runs, labels), ""]
    lines += [
        "Storm turn: from the storm's first stored event to its last, by the events' own"
        " timestamps (stored, folded, published; the agent's turn as the server ran it). Fan-out:"
        " all subscribers' events ÷ the time from posting the message to the last subscriber's"
        " last event. Per-subscriber rate: its events ÷ its first-to-last event time. Server CPU:"
        " the server process's user + system time during the storm (its agent excluded); per"
        " event sent: that CPU beyond the same storm's with no subscriber (median), ÷ events ×"
        " subscribers. Subscribers' CPU: their two processes' user + system time; when it is"
        " several times the server's, the fan-out rate measures how much of the shared cores"
        " the (niced) subscribers got, not the server.",
    ]
    return "\n".join(lines) + "\n"


def _per_message(
    labels: list[str], turn: dict[str, Stat | None], fanout: dict[str, Stat | None]
) -> str:
    """The targets' figures for the one-event-per-message wire, beside the batched ones."""
    none, _, _, one, many = labels
    t, f = turn[many], (fanout[many], fanout[one])
    turns = f"{t.med / turn[none].med:.2f}×" if t and turn[none] else "n/a"
    gain = f"{f[0].med / f[1].med:.1f}×" if f[0] and f[1] else "n/a"
    fanouts = " ÷ ".join(_fmt(x, "/s") for x in f)
    return (
        f"- The one-event-per-message wire (`batch=false`), for comparison: the turn with"
        f" {many.removesuffix(PER_MESSAGE)} ÷ with none {turns}; fan-out {gain} ({fanouts})."
    )


def _per_event(rs: list[dict[str, Any]], floor: float) -> str:
    """The server's CPU per event sent (µs), beyond ``floor`` (its CPU with no subscriber)."""
    if not rs or not rs[0]["subscribers"]:
        return "–"
    per = Stat.of([(r["server_cpu_s"] - floor) / (r["events"] * r["subscribers"]) for r in rs])
    if per is None:
        return "n/a"
    return f"{per.med * 1e6:.2f} µs ({per.lo * 1e6:.2f}–{per.hi * 1e6:.2f})"


def _rounds(runs: dict[str, list[Any]], labels: list[str]) -> list[str]:
    """Every round side by side: its turns and its own ratios (one row per round)."""
    many = labels[2]
    pm = len(labels) == 5  # the one-event-per-message setups ran too
    lines = [
        "## Every round",
        "",
        "Each round runs the setups back to back; the ratios are that round's own. The"
        " 1-minute load average is the machine's before each run (in the order of the table"
        " above).",
        "",
        f"| round | turn, no subscriber | turn, 1 subscriber | turn, {many} | {many} ÷ none"
        f" | fan-out {many} ÷ 1 | "
        + ("per message: turn ÷ none | per message: fan-out ÷ 1 | " if pm else "")
        + "closed as slow (4008) | load average |",
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if pm else ""),
    ]
    ratios = []
    for i, row in enumerate(zip(*(runs[label] for label in labels), strict=True)):
        if any("error" in r for r in row):
            lines.append(f"| {i + 1} | failed: {_first_error({'r': list(row)})[:80]} |")
            continue
        a, b, c = row[:3]
        ratio = c["server_turn_s"] / a["server_turn_s"]
        ratios.append(ratio)
        extra = ""
        if pm:
            d, e = row[3:]
            extra = f" {e['server_turn_s'] / a['server_turn_s']:.2f}× | {_gain(d, e):.1f}× |"
        loads = " / ".join(f"{r['load']:.1f}" if "load" in r else "?" for r in row)
        lines.append(
            f"| {i + 1} | {a['server_turn_s']:.3f} s | {b['server_turn_s']:.3f} s"
            f" | {c['server_turn_s']:.3f} s | {ratio:.2f}× | {_gain(b, c):.1f}× |{extra}"
            f" {sum(r['kicked'] for r in row)} | {loads} |"
        )
    if ratios:
        lines += [
            "",
            f"Median of the rounds' own turn ratios ({many} ÷ none): {median(ratios):.2f}×"
            f" (every round: {', '.join(f'{x:.2f}×' for x in ratios)}).",
        ]
    return lines


def _gain(one: dict[str, Any], many: dict[str, Any]) -> float:
    """A round's fan-out with many subscribers ÷ with one."""
    return (many["events"] * many["subscribers"] / many["fanout_s"]) / (
        one["events"] / one["fanout_s"]
    )


def _first_error(runs: dict[str, list[Any]]) -> str:
    return next((r["error"] for rs in runs.values() for r in rs if "error" in r), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="667 calls, 10 subscribers, 1 round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--tools", type=int, default=6_667)
    parser.add_argument(
        "--no-per-message",
        dest="per_message",
        action="store_false",
        help="leave out the one-event-per-message (batch=false) setups",
    )
    parser.add_argument("--out", default=str(HERE / "WATCHERS.md"))
    parser.add_argument("--json", help="also save the raw runs here")
    parser.add_argument("--report", metavar="JSON", help="run nothing: render a saved --json")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        meta = {**saved["meta"], "load": tuple(saved["meta"]["load"])}
        text = report(saved["runs"], meta)
        Path(args.out).write_text(text, encoding="utf-8")
        print(text)
        return
    if args.quick:
        args.tools, args.subscribers, args.rounds = 667, 10, 1
    load_start = os.getloadavg()
    runs = run(args.tools, args.subscribers, args.rounds, 600.0, args.per_message)
    commit = os.popen("git -C " + str(HERE) + " rev-parse --short HEAD").read().strip()
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "tools": args.tools,
        "rounds": args.rounds,
        "python": find_host_python()[0],
        "load": (load_start, os.getloadavg()),
    }
    text = report(runs, meta)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
