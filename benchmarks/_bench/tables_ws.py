"""The WebSocket fan-out section: one storm, many subscribers of one conversation.

No peer has a server, so the figures are absolute; the same storm in-process (``arun()``) is
the context: what the conversation alone costs, before any fan-out.
"""

from __future__ import annotations

from typing import Any

from _bench.config import WS_DRIVERS
from _bench.sheet import Sheet
from _bench.stats import Stat, fmt_stat, median


def _ok(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if "error" not in r]


def _order(ok: list[dict[str, Any]]) -> str:
    """Whether every subscriber of every run got every event once, in seq order."""
    subs = sum(len(r["sub_events"]) for r in ok)
    disorder = sum(r["disorder"] for r in ok)
    incomplete = sum(r["incomplete"] for r in ok)
    lost = sum(len(r["other_close"]) for r in ok)
    if not (disorder or incomplete or lost):
        return f"yes ({subs} subscriber run{'s' if subs != 1 else ''})"
    closes = "; ".join(c for r in ok for c in r["other_close"])[:120]
    return (
        f"**no**: {disorder} events out of order, {incomplete} of {subs} subscribers incomplete"
        + (f", {lost} closed otherwise ({closes})" if lost else "")
    )


def _kicked(ok: list[dict[str, Any]]) -> str:
    subs = sum(len(r["sub_events"]) for r in ok)
    kicked = sum(r["kicked_subscribers"] for r in ok)
    if not kicked:
        return f"0 of {subs}"
    at = [t for r in ok for t, _events in r["kicked_at"]]
    events = [e for r in ok for _t, e in r["kicked_at"]]
    closes = sum(r["kicked"] for r in ok)
    again = f", {closes} closes in all" if closes != kicked else ""
    return (
        f"{kicked} of {subs}{again} (at {median(at):.2f} s into the storm, after"
        f" {median(events):,.0f} events; each reconnected and caught up)"
    )


def _server_row(sheet: Sheet, key: str, label: str) -> str:
    results = sheet.runs.get("ws", {}).get(key) or [{"error": "not run"}]
    ok = _ok(results)
    if not ok:
        return f"| {label} | {sheet.na(results)} | | | | | | |"
    turn = Stat.of([r["server_turn_s"] for r in ok])
    turn_rate = Stat.of([r["events"] / r["server_turn_s"] for r in ok if r["server_turn_s"] > 0])
    per_sub = Stat.of([rate for r in ok for rate in r["sub_rate"]])
    fanout = Stat.of([sum(r["sub_events"]) / r["fanout_s"] for r in ok])
    fanout_s = Stat.of([r["fanout_s"] for r in ok])
    cpu = Stat.of([r["server_cpu_s"] for r in ok])
    client_cpu = Stat.of([r["client_cpu_s"] for r in ok])
    peak = Stat.of([r["server_maxrss_mb"] for r in ok])
    return (
        f"| {label}{sheet.failed(results)} | {fmt_stat(turn, 's')}"
        f" ({fmt_stat(turn_rate, '/s')}) | {fmt_stat(per_sub, '/s')} |"
        f" {fmt_stat(fanout, '/s')} in {fmt_stat(fanout_s, 's')} | {_order(ok)} | {_kicked(ok)} |"
        f" {fmt_stat(cpu, 's')} [{fmt_stat(client_cpu, 's')}] | {fmt_stat(peak, 'MB')} |"
    )


def ws_table(sheet: Sheet) -> None:
    s = sheet.bench.sizes
    n = s.ws_subscribers
    events = 3 * s.ws_tools + 6  # the calls' events and the turn's own six
    sheet.lines += [
        f"## {n} WebSocket subscribers on one conversation",
        "",
        "`acphost serve` in its own process (uvicorn on loopback, no key, its own SQLite store)"
        " runs one conversation with the storm agent (`permission: allow`), then one tool-call"
        f" storm of {s.ws_tools:,} calls: {events:,} events with the turn's own (message, status,"
        " start, usage, end). The subscribers are asyncio `websockets` clients in one other"
        " process, connected before the storm with `after_seq` = the last event of a warm-up"
        " turn and offering permessage-deflate as clients do by default (*no compression*:"
        " without it). Each checks its seqs (each one more than the last, from the storm's first"
        " event to the last stored one); one closed as too slow (4008) reconnects with"
        f" `after_seq`, as clients must. {s.rounds} interleaved round(s); median (min–max)."
        " No peer has a server: the first row is the same storm in-process, for context.",
        "",
        "| setup | storm turn in the server (events/s) | per-subscriber events/s |"
        " fan-out: events × subscribers / s | every subscriber complete, in order |"
        " closed as slow (4008) | server CPU [subscribers' CPU] | server peak RSS |",
        "|---|---:|---:|---:|---|---|---:|---:|",
    ]
    context = sheet.runs.get("ws", {}).get("acphost-arun") or [{"error": "not run"}]
    ok = _ok(context)
    if ok:
        turn = Stat.of([t for r in ok for t in r["turn_s"]])
        rate = Stat.of([events / t for r in ok for t in r["turn_s"]])
        peak = Stat.of([r["maxrss_mb"] for r in ok])
        sheet.lines.append(
            f"| acphost arun() in-process, no server{sheet.failed(context)} |"
            f" {fmt_stat(turn, 's')} ({fmt_stat(rate, '/s')}) | | | | | |"
            f" {fmt_stat(peak, 'MB')} |"
        )
    else:
        sheet.lines.append(
            f"| acphost arun() in-process, no server | {sheet.na(context)} | | | | | | |"
        )
    labels = {
        "ws-1": "acphost serve, 1 subscriber",
        "ws-n": f"acphost serve, {n} subscribers",
        "ws-n-plain": f"acphost serve, {n} subscribers, no compression",
    }
    for key in WS_DRIVERS[1:]:
        sheet.lines.append(_server_row(sheet, key, labels[key]))
    sheet.lines += [
        "",
        "Storm turn in the server: from the storm's first event to its last, by the events' own"
        " timestamps (stored, folded and published; not waiting for any socket). Per-subscriber"
        " rate: its events ÷ the time from its first to its last event (median over every"
        " subscriber of every run). Fan-out: all subscribers' events ÷ the time from posting the"
        " message to the last subscriber's last event. Server CPU: the server process's user +"
        " system time during the storm (its agent excluded); the subscribers' process in"
        " brackets. Server peak RSS: its `VmHWM` after the storm; the in-process row shows the"
        " driver's `ru_maxrss`. Server, agent and subscribers share the machine's cores: the"
        " figures are what the whole machine sustains, not the server alone.",
        "",
    ]
