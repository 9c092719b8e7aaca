// A conversation's header controls (mode, model, interrupt, pause, resume, delete), its usage
// meter (tokens, cost, context window) and its plan as a checklist.

import type { JSX } from "preact";

import type { Api } from "../api";
import type { Timeline } from "../timeline";
import type { ConversationDetail, PlanEntry, Status } from "../types";
import { money } from "./rows";

type Act = (action: () => Promise<unknown>) => Promise<boolean>;

function choiceValue(choice: { id?: string; value?: string }): string {
  return choice.id ?? choice.value ?? "";
}

export function Controls(props: {
  api: Api;
  id: string;
  timeline: Timeline;
  detail: ConversationDetail | null;
  status: Status;
  act: Act;
  onDeleted: () => void;
}): JSX.Element {
  const { api, id, timeline, detail, status, act } = props;
  const modes = timeline.modes.length ? timeline.modes : (detail?.modes ?? []);
  const modeId = timeline.modeId ?? detail?.mode_id ?? "";
  const option = timeline.modelOption ?? detail?.config_options.find((o) => o.category === "model");
  const models = option?.options ?? detail?.models ?? [];
  const model = String(option?.currentValue ?? detail?.model ?? "");
  const running = status === "running";
  return (
    <div class="controls">
      {modes.length ? (
        <label>
          Mode{" "}
          <select
            data-testid="mode-select"
            value={modeId}
            onChange={(e) => {
              const value = e.currentTarget.value;
              void act(() => api.setMode(id, value));
            }}
          >
            {modes.map((m) => (
              <option key={choiceValue(m)} value={choiceValue(m)}>
                {m.name ?? choiceValue(m)}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {option && models.length ? (
        <label>
          Model{" "}
          <select
            data-testid="model-select"
            value={model}
            onChange={(e) => {
              const value = e.currentTarget.value;
              void act(() => api.setOption(id, option.id, value));
            }}
          >
            {models.map((m) => (
              <option key={choiceValue(m)} value={choiceValue(m)}>
                {m.name ?? choiceValue(m)}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <span class="spacer" />
      <button
        type="button"
        data-testid="interrupt-button"
        disabled={!running}
        title="Cancel the running turn"
        onClick={() => void act(() => api.control(id, "interrupt"))}
      >
        ■ Interrupt
      </button>
      <button
        type="button"
        data-testid="pause-button"
        disabled={!running}
        title="Let the turn finish, then run no queued message"
        onClick={() => void act(() => api.control(id, "pause"))}
      >
        ❚❚ Pause
      </button>
      <button
        type="button"
        data-testid="resume-button"
        disabled={running}
        title="Run the queued messages"
        onClick={() => void act(() => api.control(id, "run"))}
      >
        ▶ Resume
      </button>
      <button
        type="button"
        class="danger"
        data-testid="delete-button"
        onClick={() => {
          if (!confirm("Delete this conversation and its events?")) return;
          void act(() => api.remove(id)).then((ok) => {
            if (ok) props.onDeleted();
          });
        }}
      >
        Delete
      </button>
    </div>
  );
}

export function Meter(props: {
  timeline: Timeline;
  detail: ConversationDetail | null;
}): JSX.Element {
  const { timeline, detail } = props;
  const tokens = timeline.tokens || detail?.usage.total_tokens || 0;
  const cost = timeline.cost ?? detail?.cost ?? null;
  const currency = timeline.currency ?? detail?.currency ?? null;
  const used = timeline.contextUsed ?? detail?.context_used ?? null;
  const size = timeline.contextSize ?? detail?.context_size ?? null;
  const share = used !== null && size ? Math.min(1, used / size) : null;
  return (
    <div class="meter" data-testid="usage-meter">
      <span data-testid="usage-tokens">{tokens.toLocaleString()} tokens</span>
      <span data-testid="usage-cost">{cost !== null ? money(cost, currency) : "cost n/a"}</span>
      {share !== null && used !== null && size !== null ? (
        <span
          class="context"
          data-testid="context-meter"
          title={`context window: ${used.toLocaleString()} of ${size.toLocaleString()} tokens`}
        >
          <span class="bar">
            <span
              class={`fill ${share > 0.9 ? "hot" : share > 0.7 ? "warm" : ""}`}
              style={{ width: `${(share * 100).toFixed(1)}%` }}
            />
          </span>
          {(share * 100).toFixed(0)}% of context
        </span>
      ) : null}
    </div>
  );
}

export function PlanPanel(props: { plan: PlanEntry[] }): JSX.Element | null {
  if (props.plan.length === 0) return null;
  const done = props.plan.filter((e) => e.status === "completed").length;
  return (
    <details class="plan" data-testid="plan" open>
      <summary>
        Plan · {done}/{props.plan.length}
      </summary>
      <ul>
        {props.plan.map((entry, at) => (
          <li
            key={at}
            class={`plan-${entry.status}`}
            data-testid="plan-entry"
            data-status={entry.status}
          >
            <span class="mark" aria-label={entry.status} /> {entry.content}
          </li>
        ))}
      </ul>
    </details>
  );
}
