// Jobs (tasks × agents × attempts, run by `acphost jobs run`): the list of stored jobs, and one
// job's comparison grid (task × agent: each attempt's outcome, cost and time, linked to its
// trial's conversation) with each agent's summary. Read from GET /api/jobs[/{id}].

import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

import { type Api, describe } from "../api";
import type { AgentStats, JobDetail, JobSummary, Trial } from "../types";
import { money } from "./rows";

const POLL_MS = 3000;

/** The grid's cells: task -> agent -> its trials by attempt. */
export function gridOf(trials: readonly Trial[]): Map<string, Map<string, Trial[]>> {
  const grid = new Map<string, Map<string, Trial[]>>();
  for (const trial of trials) {
    let row = grid.get(trial.task_id);
    if (!row) grid.set(trial.task_id, (row = new Map<string, Trial[]>()));
    row.set(trial.agent, [...(row.get(trial.agent) ?? []), trial]);
  }
  for (const row of grid.values()) for (const cell of row.values()) cell.sort(byAttempt);
  return grid;
}

const byAttempt = (a: Trial, b: Trial): number => a.attempt - b.attempt;

const percent = (value: number | null): string =>
  value === null ? "–" : `${Math.round(value * 100)}%`;
const secs = (value: number | null): string => (value === null ? "–" : `${value.toFixed(1)} s`);

/** Load ``fetch`` now and, while ``again`` says so, every POLL_MS (a running job changes);
 * ``deps`` say when to start over. */
function usePolled<T>(
  fetch: () => Promise<T>,
  again: (value: T) => boolean,
  deps: unknown[],
): { value: T | null; error: string | null } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = (): void => {
      fetch().then(
        (v) => {
          if (!alive) return;
          setValue(v);
          setError(null);
          if (again(v)) timer = setTimeout(load, POLL_MS);
        },
        (e: unknown) => {
          if (alive) setError(describe(e));
        },
      );
    };
    load();
    return () => {
      alive = false;
      if (timer !== null) clearTimeout(timer);
    };
  }, deps);
  return { value, error };
}

export function JobsView(props: { api: Api; id: string | null }): JSX.Element {
  return props.id === null ? <JobList api={props.api} /> : <Job api={props.api} id={props.id} />;
}

function JobList(props: { api: Api }): JSX.Element {
  const { value: jobs, error } = usePolled(
    () => props.api.jobs(),
    (list: JobSummary[]) => list.some((j) => j.status === "running"),
    [props.api],
  );
  return (
    <section class="jobs" data-testid="job-list">
      <h2>Jobs</h2>
      {error ? (
        <div class="error-text" data-testid="jobs-error" role="alert">
          {error}
        </div>
      ) : null}
      {jobs?.length === 0 ? (
        <p class="muted" data-testid="job-list-empty">
          No jobs yet: run one with <code>acphost jobs run</code> on this server's store.
        </p>
      ) : null}
      {jobs?.length ? (
        <table class="grid">
          <thead>
            <tr>
              <th>job</th>
              <th>status</th>
              <th>agents</th>
              <th>tasks</th>
              <th>finished</th>
              <th>passed</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-testid="job-row" data-job-id={job.id} data-status={job.status}>
                <td>
                  <a href={`#/jobs/${encodeURIComponent(job.id)}`}>{job.id}</a>
                </td>
                <td>{job.status}</td>
                <td>{job.agents.join(", ")}</td>
                <td>{job.tasks}</td>
                <td>
                  {job.finished} / {job.cells}
                </td>
                <td>{job.passed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function Job(props: { api: Api; id: string }): JSX.Element {
  const { value: job, error } = usePolled(
    () => props.api.job(props.id),
    (j: JobDetail) => j.status === "running",
    [props.api, props.id],
  );
  if (!job) {
    return (
      <section class="jobs" data-testid="job-view">
        <a href="#/jobs">← jobs</a>
        {error ? (
          <div class="error-text" data-testid="jobs-error" role="alert">
            {error}
          </div>
        ) : (
          <p class="muted">loading…</p>
        )}
      </section>
    );
  }
  const grid = gridOf(job.results.trials);
  return (
    <section class="jobs" data-testid="job-view" data-job-id={job.id} data-status={job.status}>
      <a href="#/jobs">← jobs</a>
      <h2>
        {job.id} <span class="pill">{job.status}</span>
      </h2>
      <p class="muted">
        {job.finished} of {job.cells} trials finished, {job.passed} passed
      </p>
      <table class="grid" data-testid="job-grid">
        <thead>
          <tr>
            <th>task \ agent</th>
            {job.results.agents.map((agent) => (
              <th key={agent}>{agent}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {job.results.tasks.map((task) => (
            <tr key={task}>
              <th>{task}</th>
              {job.results.agents.map((agent) => (
                <td key={agent} data-testid="job-cell" data-task={task} data-agent={agent}>
                  {(grid.get(task)?.get(agent) ?? []).map((trial) => (
                    <TrialLink key={trial.attempt} trial={trial} />
                  ))}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Per agent</h3>
      <AgentTable stats={job.results.stats} />
    </section>
  );
}

function TrialLink(props: { trial: Trial }): JSX.Element {
  const t = props.trial;
  const figures = `${money(t.cost, t.currency) || "–"} · ${secs(t.wall_time)}`;
  const body = (
    <>
      <span class={`pill outcome-${t.outcome}`}>{t.outcome}</span>{" "}
      <span class="muted">{figures}</span>
    </>
  );
  return (
    <div class="trial" data-testid="job-trial" data-outcome={t.outcome} data-attempt={t.attempt}>
      {t.conversation_id ? (
        <a href={`#/c/${encodeURIComponent(t.conversation_id)}`} title="open its conversation">
          {body}
        </a>
      ) : (
        body
      )}
    </div>
  );
}

function AgentTable(props: { stats: AgentStats[] }): JSX.Element {
  return (
    <table class="grid" data-testid="job-agents">
      <thead>
        <tr>
          <th>agent</th>
          <th>passed</th>
          <th>pass rate (95% interval)</th>
          <th>total cost</th>
          <th>cost per solved</th>
          <th>median time</th>
          <th>mean tokens</th>
        </tr>
      </thead>
      <tbody>
        {props.stats.map((s) => (
          <tr key={s.agent} data-testid="job-agent" data-agent={s.agent}>
            <th>{s.agent}</th>
            <td>
              {s.passed} / {s.trials}
            </td>
            <td>
              {percent(s.pass_rate)} ({percent(s.pass_rate_low)}–{percent(s.pass_rate_high)})
            </td>
            <td>{money(s.total_cost, null) || "–"}</td>
            <td>{money(s.cost_per_solved, null) || "–"}</td>
            <td>{secs(s.median_time)}</td>
            <td>{s.mean_tokens === null ? "–" : Math.round(s.mean_tokens).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
