// One row of a conversation's stream, by type. Markdown is rendered once per text (cached), so
// scrolling back and forth through a long conversation does not re-parse it.

import type { JSX } from "preact";
import { memo } from "preact/compat";
import { useState } from "preact/hooks";

import { renderMarkdown } from "../markdown";
import type { Row, Timeline } from "../timeline";
import type {
  JsonObject,
  PermissionDecidedEvent,
  PermissionOption,
  PermissionRequestedEvent,
  ToolCallEvent,
} from "../types";
import { type AnswerElicitation, ElicitationCard } from "./elicitation";
import { ToolCallBody, ToolCallCard, useOpen } from "./toolcall";

const MARKDOWN_CACHE_SIZE = 500;
const markdownCache = new Map<string, string>();

function markdown(text: string): string {
  let html = markdownCache.get(text);
  if (html === undefined) {
    html = renderMarkdown(text);
    if (markdownCache.size >= MARKDOWN_CACHE_SIZE) {
      const oldest = markdownCache.keys().next();
      if (!oldest.done) markdownCache.delete(oldest.value);
    }
    markdownCache.set(text, html);
  }
  return html;
}

export function Markdown(props: { text: string; testid?: string }): JSX.Element {
  return (
    <div
      class="markdown"
      data-testid={props.testid}
      dangerouslySetInnerHTML={{ __html: markdown(props.text) }}
    />
  );
}

/** What the console needs to act on a row (answer a permission, or what the agent asks). */
export interface RowContext {
  timeline: Timeline;
  answer: (request: PermissionRequestedEvent, option: PermissionOption) => Promise<void>;
  answerElicitation: AnswerElicitation;
}

const DECISIONS = new Set(["allow_once", "allow_always", "reject_once", "reject_always"]);

function decisionText(decided: PermissionDecidedEvent): string {
  const what = decided.decision.replace("_", " ");
  const by =
    decided.decided_by === "cancel" ? "cancelled with the turn" : `by ${decided.decided_by}`;
  return decided.decision === "cancelled" ? "cancelled" : `${what} (${by})`;
}

/** The tool call as the agent sent it with the request (when no tool_call event preceded it). */
export function wireToolCall(request: PermissionRequestedEvent): ToolCallEvent | null {
  const wire = request.tool_call;
  const list = (value: unknown): JsonObject[] =>
    Array.isArray(value)
      ? value.filter((v): v is JsonObject => typeof v === "object" && v !== null)
      : [];
  const content = list(wire.content);
  const locations = list(wire.locations);
  const rawInput = wire.rawInput ?? null;
  if (content.length === 0 && locations.length === 0 && rawInput === null) return null;
  return {
    ...request,
    kind: "tool_call",
    title: typeof wire.title === "string" ? wire.title : request.title,
    tool_kind: typeof wire.kind === "string" ? wire.kind : null,
    status: "pending",
    content,
    locations,
    raw_input: rawInput,
    raw_output: null,
  };
}

function PermissionCard(props: {
  request: PermissionRequestedEvent;
  decided: PermissionDecidedEvent | null;
  context: RowContext;
}): JSX.Element {
  const { request, decided, context } = props;
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const call = context.timeline.toolCall(request.tool_call_id) ?? wireToolCall(request);
  const choose = (option: PermissionOption): void => {
    setBusy(option.optionId);
    setError(null);
    context.answer(request, option).then(
      () => {
        setBusy(null);
      },
      (e: unknown) => {
        setBusy(null);
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  };
  return (
    <div
      class={`card permission ${decided ? "decided" : "pending"}`}
      data-testid="permission-card"
      data-request-id={request.request_id}
      data-state={decided ? "decided" : "pending"}
      role={decided ? undefined : "alert"}
    >
      <div class="permission-head">
        <span class="permission-icon">{decided ? "✓" : "⚠"}</span>
        <strong>{decided ? "Permission" : "Permission needed"}:</strong>{" "}
        <span data-testid="permission-title">{request.title || call?.title || "a tool call"}</span>
        {request.session_id ? (
          <span class="muted" data-testid="permission-subagent">
            {" "}
            (asked by subagent {context.timeline.subagentName(request.session_id)})
          </span>
        ) : null}
      </div>
      {call ? <ToolCallBody call={call} terminals={context.timeline.terminals} /> : null}
      {decided ? (
        <div
          class="permission-decision"
          data-testid="permission-decision"
          data-decision={decided.decision}
        >
          {decisionText(decided)}
        </div>
      ) : (
        <div class="permission-options">
          {request.options.map((option) => (
            <button
              type="button"
              key={option.optionId}
              class={`option ${option.kind.startsWith("allow") ? "allow" : "reject"}`}
              data-testid="permission-option"
              data-option-id={option.optionId}
              data-kind={option.kind}
              disabled={busy !== null || !DECISIONS.has(option.kind)}
              onClick={() => {
                choose(option);
              }}
            >
              {option.name}
            </button>
          ))}
        </div>
      )}
      {error ? <div class="error-text">{error}</div> : null}
    </div>
  );
}

function Thought(props: { text: string; streaming: boolean }): JSX.Element {
  const [open, setOpen] = useOpen(false);
  return (
    <details
      class="thought"
      data-testid="thought"
      open={open}
      onToggle={(e) => {
        setOpen(e.currentTarget.open);
      }}
    >
      <summary>
        ∴ Thought{props.streaming ? "…" : ""}{" "}
        <span class="muted">{props.text.slice(0, 80).replace(/\s+/g, " ")}</span>
      </summary>
      {open ? <Markdown text={props.text} /> : null}
    </details>
  );
}

function money(value: number | null, currency: string | null): string {
  if (value === null) return "";
  return `${currency === "USD" || currency === null ? "$" : `${currency} `}${value.toFixed(4)}`;
}

export const RowView = memo(function RowView(props: {
  row: Row;
  context: RowContext;
}): JSX.Element {
  const { row, context } = props;
  const attrs = { "data-seq": row.seq, "data-kind": row.type };
  switch (row.type) {
    case "user":
      return (
        <div
          class="msg user"
          {...attrs}
          data-testid="user-message"
          data-steered={row.steered ? "true" : undefined}
        >
          <div class="who">{row.steered ? "You (steered into the turn)" : "You"}</div>
          <div class="user-text">{row.text}</div>
        </div>
      );
    case "agent":
      return (
        <div
          class={`msg agent ${row.streaming ? "streaming" : ""}`}
          {...attrs}
          data-testid="agent-message"
        >
          <Markdown text={row.text} />
        </div>
      );
    case "thought":
      return (
        <div {...attrs}>
          <Thought text={row.text} streaming={row.streaming} />
        </div>
      );
    case "tool":
      return (
        <div {...attrs}>
          <ToolCallCard call={row.call} terminals={context.timeline.terminals} rev={row.rev} />
        </div>
      );
    case "permission":
      return (
        <div {...attrs}>
          <PermissionCard request={row.request} decided={row.decided} context={context} />
        </div>
      );
    case "elicitation":
      return (
        <div {...attrs}>
          <ElicitationCard
            request={row.request}
            answered={row.answered}
            completed={row.completed}
            answer={context.answerElicitation}
          />
        </div>
      );
    case "turn": {
      const e = row.event;
      return (
        <div
          class={`turn-end stop-${e.stop_reason}`}
          {...attrs}
          data-testid="turn-ended"
          data-stop-reason={e.stop_reason}
        >
          <span>
            turn {e.turn ?? ""} ended: {e.stop_reason.replace("_", " ")}
          </span>
          {e.error_code ? <span class="bad"> ({e.error_code})</span> : null}
          <span class="muted">
            {" "}
            · {e.duration_s.toFixed(1)} s
            {e.usage ? ` · ${e.usage.total_tokens.toLocaleString()} tokens` : ""}
            {e.cost !== null ? ` · ${money(e.cost, null)}` : ""}
          </span>
        </div>
      );
    }
    case "error":
      return (
        <div class="card error-row" {...attrs} data-testid="error-row" data-code={row.event.code}>
          <strong>{row.event.code}</strong>: {row.event.message}
          {row.event.hint ? <div class="muted">{row.event.hint}</div> : null}
        </div>
      );
    case "session":
      return (
        <div class="notice" {...attrs} data-testid="session-row">
          Agent session {row.event.kind.replace("session_", "")} without its earlier context
          {row.event.reason ? `: ${row.event.reason}` : ""}
        </div>
      );
    case "note":
      return (
        <div
          class={`note tone-${row.tone}`}
          {...attrs}
          data-testid="note-row"
          data-what={row.what}
          data-tone={row.tone}
        >
          <strong>{row.title}</strong>
          {row.detail ? <span class="muted"> {row.detail}</span> : null}
        </div>
      );
    case "compaction":
      return <Compaction row={row} attrs={attrs} />;
    case "subagent":
      return <SubagentCard row={row} attrs={attrs} />;
  }
});

type RowOf<T extends Row["type"]> = Extract<Row, { type: T }>;
type Attrs = Record<string, string | number>;

/** A divider: the context before it was compacted into its summary. */
function Compaction(props: { row: RowOf<"compaction">; attrs: Attrs }): JSX.Element {
  const e = props.row.event;
  const summary = e.summary
    .map((block) => (typeof block.text === "string" ? block.text : ""))
    .join("");
  return (
    <div class="compaction" {...props.attrs} data-testid="compaction" data-status={e.status}>
      <div class="compaction-rule">
        context compacted{e.status === "completed" ? "" : ` (${e.status.replace("_", " ")})`}
      </div>
      {e.error ? <div class="error-text">{e.error}</div> : null}
      {summary ? (
        <details>
          <summary>what the agent keeps</summary>
          <Markdown text={summary} testid="compaction-summary" />
        </details>
      ) : null}
    </div>
  );
}

/** A subagent the agent spawned: its name, task and state, and what it said. */
function SubagentCard(props: { row: RowOf<"subagent">; attrs: Attrs }): JSX.Element {
  const { event, text, updates } = props.row.subagent;
  return (
    <div
      class="card subagent"
      {...props.attrs}
      data-testid="subagent"
      data-subagent-id={event.subagent_session_id}
      data-state={event.state}
    >
      <div>
        <strong>Subagent {event.name || event.subagent_session_id}</strong>{" "}
        <span class={`pill status-${event.state}`}>{event.state}</span>{" "}
        <span class="muted">{updates > 0 ? `${updates} updates` : ""}</span>
      </div>
      {event.task ? <div class="muted">{event.task}</div> : null}
      {text ? <Markdown text={text} testid="subagent-text" /> : null}
    </div>
  );
}

export { money };
