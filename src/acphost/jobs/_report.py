"""A job's results as JSON, CSV, and one self-contained HTML page with charts.

The HTML report has no external resource (no script, font or stylesheet to fetch): charts are
inline SVG, so the file can be mailed, archived or opened offline.
"""

from __future__ import annotations

import csv
import html
import io

from acphost.jobs._results import AgentStats, JobResults
from acphost.jobs._store import TrialRecord

__all__ = ["CSV_COLUMNS", "to_csv", "to_html", "to_json"]

#: The columns of the CSV export, one row per trial.
CSV_COLUMNS = (
    "job_id",
    "task_id",
    "agent",
    "attempt",
    "outcome",
    "score",
    "cost",
    "currency",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "turns",
    "tool_calls",
    "wall_time",
    "tries",
    "stop_reason",
    "check_exit",
    "error_code",
    "conversation_id",
    "node",
)


def to_json(results: JobResults) -> str:
    """Every trial and every agent's statistics."""
    return results.model_dump_json(indent=2)


def to_csv(results: JobResults) -> str:
    """One row per trial (see :data:`CSV_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for trial in results.trials:
        row = trial.model_dump()
        row["error_code"] = (trial.error or {}).get("code")
        writer.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


_COLOURS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "error": "#6a1b9a",
    "timed_out": "#ef6c00",
    "over_budget": "#ad1457",
    "cancelled": "#757575",
    "running": "#1565c0",
}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.o{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}
figure{display:inline-block;margin:0 2em 1em 0}figcaption{font-weight:600}
"""


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _badge(trial: TrialRecord) -> str:
    colour = _COLOURS.get(trial.outcome, "#555")
    title = html.escape(f"conversation {trial.conversation_id}")
    return f'<span class="o" style="background:{colour}" title="{title}">{trial.outcome}</span>'


def _bars(title: str, values: list[tuple[str, float | None]], fmt: str) -> str:
    """A horizontal bar chart as inline SVG."""
    top = max([v for _, v in values if v is not None] or [0.0]) or 1.0
    height = 24 * len(values) + 10
    rows = []
    for i, (label, value) in enumerate(values):
        y = 5 + 24 * i
        width = 0 if value is None else 220 * value / top
        text = "–" if value is None else fmt.format(value)
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="120" y="{y}" width="{width:.1f}" height="18" fill="#1565c0"/>'
            f'<text x="{126 + width:.1f}" y="{y + 14}" font-size="12">{text}</text>'
        )
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="420" height="{height}">'
        + "".join(rows)
        + "</svg></figure>"
    )


def _stats_table(stats: list[AgentStats]) -> str:
    head = (
        "<tr><th>agent</th><th>trials</th><th>passed</th><th>pass rate (95% CI)</th>"
        "<th>mean cost</th><th>cost per solved</th><th>median time (s)</th>"
        "<th>mean tokens</th></tr>"
    )
    rows = []
    for s in stats:
        rate = (
            "–"
            if s.pass_rate is None
            else f"{s.pass_rate:.0%} ({s.pass_rate_low:.0%}–{s.pass_rate_high:.0%})"
        )
        rows.append(
            f"<tr><td>{html.escape(s.agent)}</td><td class=num>{s.trials}</td>"
            f"<td class=num>{s.passed}</td><td class=num>{rate}</td>"
            f"<td class=num>{_money(s.mean_cost)}</td>"
            f"<td class=num>{_money(s.cost_per_solved)}</td>"
            f"<td class=num>{_number(s.median_time)}</td>"
            f"<td class=num>{_number(s.mean_tokens, 0)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _grid(results: JobResults) -> str:
    head = (
        "<tr><th>task</th>"
        + "".join(f"<th>{html.escape(a)}</th>" for a in results.agents)
        + "</tr>"
    )
    rows = []
    for task in results.tasks:
        cells = []
        for agent in results.agents:
            trials = results.cell(task, agent)
            cells.append(
                "<td>"
                + "<br>".join(
                    f"{_badge(t)} {_money(t.cost)} {_number(t.wall_time)} s" for t in trials
                )
                + "</td>"
            )
        rows.append(f"<tr><td>{html.escape(task)}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def to_html(results: JobResults) -> str:
    """The report: per-agent charts and statistics, then the task × agent grid."""
    stats = results.stats
    charts = "".join(
        (
            _bars("pass rate", [(s.agent, s.pass_rate) for s in stats], "{:.0%}"),
            _bars("mean cost ($)", [(s.agent, s.mean_cost) for s in stats], "${:.4f}"),
            _bars("median time (s)", [(s.agent, s.median_time) for s in stats], "{:.1f} s"),
        )
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>acphost job {html.escape(results.job)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Job {html.escape(results.job)}</h1>"
        f"{charts}<h2>Agents</h2>{_stats_table(stats)}"
        f"<h2>Tasks × agents</h2>{_grid(results)}</body></html>"
    )
