"""``acphost jobs run | show | list | report``: run jobs with live progress, read results.

``add_parser(sub)`` adds the ``jobs`` command to the ``acphost`` parser; each command takes
``(args, out, err)`` consoles and returns the exit code, like the other commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from acphost.errors import UsageError
from acphost.jobs._loading import load_job
from acphost.jobs._local import Executor
from acphost.jobs._report import to_csv, to_html, to_json
from acphost.jobs._results import JobResults, summarize
from acphost.jobs._runner import JobProgress, arun_job
from acphost.jobs._store import JobStore
from acphost.store import default_store_path

__all__ = [
    "add_parser",
    "list_command",
    "report_command",
    "run_command",
    "show_command",
]

_EXIT_OK, _EXIT_CANCELLED = 0, 130


def add_parser(sub: Any) -> None:
    """Add ``jobs`` and its actions to the ``acphost`` subcommands."""
    jobs = sub.add_parser("jobs", help="run tasks × agents and compare them")
    what = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = what.add_parser(
        "run",
        help="run (or resume) a job file",
        description="Run every (task, agent, attempt) of JOB_FILE not finished yet: running a "
        "job again resumes it. Ctrl-C stops cleanly: running trials are cancelled and "
        "recorded, and run again next time.",
    )
    run.add_argument("file", metavar="JOB_FILE", help="a .toml, .yaml or .json job file")
    _store(run)
    run.add_argument("--workdir", metavar="DIR", help="where trial workspaces are made")
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run trials on Ray: 'auto' (this machine's cluster), 'local' (a Ray instance "
        "started for the job) or a cluster address",
    )
    run.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    run.set_defaults(func=run_command)
    show = what.add_parser("show", help="a job's grid and per-agent statistics")
    show.add_argument("job", metavar="JOB", help="the job's name")
    _store(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=show_command)
    listing = what.add_parser("list", help="stored jobs, most recent first")
    _store(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=list_command)
    report = what.add_parser("report", help="export a job's results: html, json or csv")
    report.add_argument("job", metavar="JOB", help="the job's name")
    _store(report)
    report.add_argument("--format", choices=("html", "json", "csv"), default="html")
    report.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    report.set_defaults(func=report_command)


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="PATH", help="the SQLite store (default: acphost's)")


def _open(args: argparse.Namespace) -> JobStore:
    return JobStore(args.store or default_store_path())


def _executor(address: str | None) -> Executor | None:
    if address is None:
        return None
    from acphost.jobs._ray import RayExecutor

    return RayExecutor(None if address == "local" else address)


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _progress_line(progress: JobProgress) -> Text:
    return Text.assemble(
        (f"{progress.job} ", "bold"),
        f"{progress.done}/{progress.total} done · ",
        (f"{progress.running} running", "cyan"),
        " · ",
        (f"{progress.passed} passed", "green"),
        " · ",
        (f"{progress.failed} not passed", "red"),
        f" · cost {_money(progress.cost)} · time left {_duration(progress.time_left)}",
        (" · budget reached: no new trial" if progress.budget_reached else "", "yellow"),
    )


def run_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run a job file with live progress (a line per finished trial when not on a
    terminal); print the grid at the end."""
    job = load_job(args.file)
    executor = _executor(args.ray)
    latest: list[JobProgress] = []
    printed = [-1]

    def on_progress(progress: JobProgress) -> None:
        latest[:] = [progress]
        if not err.is_terminal and progress.done != printed[0]:
            printed[0] = progress.done
            err.print(_progress_line(progress))

    live = Live(
        get_renderable=lambda: _progress_line(latest[0]) if latest else Text("starting"),
        console=err,
        refresh_per_second=4,
    )
    job_run = arun_job(
        job, store=args.store, executor=executor, workdir=args.workdir, on_progress=on_progress
    )
    with live if err.is_terminal else contextlib.nullcontext():
        results = asyncio.run(_until_ctrl_c(job_run, err))
    if results is None:
        err.print("stopped: running trials were cancelled and recorded; run again to resume")
        return _EXIT_CANCELLED
    _print_results(out, results, as_json=args.json)
    return _EXIT_OK


async def _until_ctrl_c(
    job_run: Coroutine[Any, Any, JobResults], err: Console
) -> JobResults | None:
    """Run the job; Ctrl-C cancels it cleanly (``None``), a second one exits at once.

    The handler goes through the loop's wakeup fd: the kernel may hand SIGINT to any thread,
    and a Python-level handler would then wait for the main thread's next bytecode, which an
    idle loop may never run.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(job_run)
    stopping: list[bool] = []

    def on_ctrl_c() -> None:
        if stopping:
            err.print("interrupted twice: exiting now (running cells stay unfinished)")
            os._exit(_EXIT_CANCELLED)
        stopping.append(True)
        err.print("stopping: cancelling the running trials (Ctrl-C again to exit at once)")
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
    try:
        return await task
    except asyncio.CancelledError:
        if not stopping:
            raise
        return None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def show_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _open(args) as store:
        _print_results(out, _results(store, args.job), as_json=args.json)
    return _EXIT_OK


def _results(store: JobStore, name: str) -> JobResults:
    record = store.get_job(name)
    if record is None:
        raise UsageError(f"no job {name!r} in the store", hint="acphost jobs list")
    return summarize(record.job, store.trials(name))


def list_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _open(args) as store:
        rows = [(r, store.trials(r.id)) for r in store.list_jobs()]
    if args.json:
        data = [
            {
                "id": r.id,
                "status": r.status,
                "cells": len(r.job.cells()),
                "finished": sum(t.finished for t in trials),
                "passed": sum(t.outcome == "passed" for t in trials),
                "updated_at": r.updated_at,
            }
            for r, trials in rows
        ]
        out.file.write(json.dumps(data, indent=2) + "\n")
        return _EXIT_OK
    table = Table("job", "status", "finished", "passed", "tasks", "agents")
    for record, trials in rows:
        table.add_row(
            record.id,
            record.status,
            f"{sum(t.finished for t in trials)}/{len(record.job.cells())}",
            str(sum(t.outcome == "passed" for t in trials)),
            str(len(record.job.tasks)),
            ", ".join(a.name for a in record.job.agents),
        )
    out.print(table)
    return _EXIT_OK


def report_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _open(args) as store:
        results = _results(store, args.job)
    text = {"html": to_html, "json": to_json, "csv": to_csv}[args.format](results)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        err.print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return _EXIT_OK


_STYLES = {"passed": "green", "failed": "red", "timed_out": "yellow", "over_budget": "magenta"}


def _print_results(out: Console, results: JobResults, *, as_json: bool) -> None:
    if as_json:
        out.file.write(to_json(results) + "\n")
        return
    grid = Table("task", *results.agents, title=f"job {results.job}")
    for task in results.tasks:
        cells = []
        for agent in results.agents:
            cell = Text()
            for trial in results.cell(task, agent):
                if cell:
                    cell.append("\n")
                cell.append(trial.outcome, _STYLES.get(trial.outcome, "bold"))
                cell.append(f" {_money(trial.cost)} {trial.wall_time:.1f}s")
            cells.append(cell)
        grid.add_row(task, *cells)
    stats = Table(
        "agent", "pass rate (95% CI)", "mean cost", "cost/solved", "median time", "tokens"
    )
    for s in results.stats:
        rate = (
            "–"
            if s.pass_rate is None
            else f"{s.passed}/{s.trials} {s.pass_rate:.0%} "
            f"({s.pass_rate_low:.0%}–{s.pass_rate_high:.0%})"
        )
        stats.add_row(
            s.agent,
            rate,
            _money(s.mean_cost),
            _money(s.cost_per_solved),
            _duration(s.median_time) if s.median_time is not None else "–",
            str(s.total_tokens),
        )
    out.print(Group(grid, stats))
