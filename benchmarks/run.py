#!/usr/bin/env python3
"""The benchmarks, side by side: ``python benchmarks/run.py [--quick]``.

Runs the storm agent (``storm_agent.py``) through every driver (``drivers/``), each in its own
subprocess with a timeout, interleaving the drivers round by round (A B C A B C ...), then writes
``benchmarks/RESULTS.md`` (and the raw numbers in ``benchmarks/results.json``) and prints it.
See ``benchmarks/README.md`` for what each figure means; the machinery is in ``_bench/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from _bench.bench import Bench, rerender
from _bench.config import FULL, QUICK
from _bench.env import HERE, log
from _bench.experiments import PARTS
from _bench.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
        help=f"comma-separated subset: {','.join(PARTS)} (for debugging)",
    )
    args = parser.parse_args()
    if args.report:
        write_report(rerender(Path(args.report)))
        return
    only = [p for p in args.only.split(",") if p]
    unknown = [p for p in only if p not in PARTS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds, perms_rounds=args.rounds)
    bench = Bench(sizes, args.quick)
    for driver in bench.drivers.values():
        if driver.unavailable:
            log(f"{driver.label}: n/a ({driver.unavailable})")
    for name, step in PARTS.items():
        if not only or name in only:
            step(bench)
    bench.fill_missing("not run (--only)")
    bench.load_end = os.getloadavg()
    bench.elapsed_s = bench.elapsed()
    bench.save(HERE / "results.json")
    write_report(bench)


if __name__ == "__main__":
    main()
