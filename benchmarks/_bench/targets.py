"""The issue's targets: the target / measured / met? table that opens ``RESULTS.md``."""

from __future__ import annotations

from _bench.config import CONC_LOADS, STORMS
from _bench.sheet import Sheet
from _bench.stats import Stat, fmt_num, fmt_ratio, ratio


def compute_targets(
    sheet: Sheet,
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
        sheet.target(
            what,
            sheet.both(values, fmt_ratio),
            sheet.all_met(list(values.values()), lambda v: v >= minimum),
        )

    vs("chunks", "sdk", 1.5, "chunk storm ≥ 1.5× bare SDK updates/s")
    vs("chunks", "openhands", 2.0, "chunk storm ≥ 2× OpenHands updates/s")
    vs("tools", "sdk", 1.0, "tool-call storm ≥ 1.0× bare SDK (acphost persisting)")
    vs("tools", "openhands-persist", 20.0, "tool-call storm ≥ 20× OpenHands with persistence")
    vs("perms", "sdk", 1.0, "permission storm ≥ 1.0× bare SDK (acphost persisting)")
    vs("perms", "openhands-persist", 20.0, "permission storm ≥ 20× OpenHands w/ persistence")
    values = {h: med(trivial.get(h, (None, None))[0]) for h in hosts}
    sheet.target(
        "trivial turn ≤ 0.5 ms median, persistence on",
        sheet.both(values, lambda v: fmt_num(v, "ms")),
        sheet.all_met(list(values.values()), lambda v: v <= 0.0005),
    )
    values = {h: growth[h]["ratio"] if h in growth else None for h in hosts}
    singles = {h: growth[h]["single_ratio"] if h in growth else None for h in hosts}
    sheet.target(
        f"turn {sheet.bench.sizes.growth_turns} ≤ 1.1× turn 1"
        f" ({sheet.bench.sizes.growth_tools:,} tool calls a turn)",
        sheet.both(values, fmt_ratio)
        + " (median over the runs of last 5 ÷ first 5); single turns: "
        + sheet.both(singles, fmt_ratio),
        sheet.all_met(list(values.values()), lambda v: v <= 1.1),
    )
    for key, title, *_ in STORMS:
        values = {h: ratio(med(rss[key].get(h)), med(rss[key].get("sdk"))) for h in hosts}
        sheet.target(
            f"peak RSS in the {title} ≤ 1.2× bare SDK",
            sheet.both(values, fmt_ratio),
            sheet.all_met(list(values.values()), lambda v: v <= 1.2),
        )
    base = med(imports.get("import acp"))
    lazy = ratio(med(imports.get("import acphost")), base)
    full = ratio(med(imports.get("from acphost import Conversation")), base)
    sheet.target(
        "`import acphost` ≤ 1.2× `import acp`",
        f"{fmt_ratio(lazy)} (`from acphost import Conversation`: {fmt_ratio(full)})",
        None if lazy is None else lazy <= 1.2,
    )
    n = sheet.bench.sizes.conversations
    for name, title in CONC_LOADS:
        row, sdk = conc.get(name), conc.get(f"{name}-sdk")
        sheet.target(
            f"{n} concurrent conversations ({title}): host RSS ≤ 150 MB",
            fmt_num(row["rss"], "MB") + f" (peak {fmt_num(row['maxrss'], 'MB')})" if row else "n/a",
            None if row is None else row["maxrss"] <= 150,
        )
        # about acphost; the bare SDK beside it is what the machine allows (Little's law)
        floor = "n/a"
        if sdk is not None:
            floor = fmt_num(sdk["overhead"], "ms")
            if row is not None and row["overhead"] > 0 and sdk["overhead"] > 0:
                floor += f"; acphost ÷ SDK {fmt_ratio(ratio(row['overhead'], sdk['overhead']))}"
        sheet.target(
            f"{n} concurrent conversations ({title}): p99 turn overhead ≤ 20 ms",
            f"{fmt_num(row['overhead'], 'ms')} (bare SDK: {floor})" if row else "n/a",
            None if row is None else row["overhead"] <= 0.020,
        )
