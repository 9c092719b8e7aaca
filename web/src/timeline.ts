// The fold of a conversation's events into what the console shows: the rows of the stream
// (one per message, thought, tool call, permission request, turn end, error, session change)
// and the conversation's current facts (status, mode, model, usage, plan, banners).
//
// Rows are immutable: an update (a tool call's new snapshot, a permission's decision) replaces
// its row object, so a memoised row component re-renders only when its row changed.

import type {
  AcpEvent,
  Choice,
  ConfigOption,
  ErrorEvent,
  PermissionDecidedEvent,
  PermissionRequestedEvent,
  PlanEntry,
  SessionEvent,
  Status,
  TerminalEvent,
  ToolCallEvent,
  TurnEndedEvent,
} from "./types";

export type Row =
  | { key: string; type: "user"; seq: number; text: string }
  | { key: string; type: "agent"; seq: number; text: string; streaming: boolean }
  | { key: string; type: "thought"; seq: number; text: string; streaming: boolean }
  | { key: string; type: "tool"; seq: number; call: ToolCallEvent; rev: number }
  | {
      key: string;
      type: "permission";
      seq: number;
      request: PermissionRequestedEvent;
      decided: PermissionDecidedEvent | null;
    }
  | { key: string; type: "turn"; seq: number; event: TurnEndedEvent }
  | { key: string; type: "error"; seq: number; event: ErrorEvent }
  | { key: string; type: "session"; seq: number; event: SessionEvent };

export type RowType = Row["type"];

/** How long a running turn may go without any event before the console says so. */
export const STALL_SECONDS = 120;

export class Timeline {
  rows: Row[] = [];
  lastSeq = 0;
  events = 0;
  status: Status = "idle";
  title: string | null = null;
  modeId: string | null = null;
  modes: Choice[] = [];
  configOptions: ConfigOption[] = [];
  plan: PlanEntry[] = [];
  cost: number | null = null;
  currency: string | null = null;
  contextUsed: number | null = null;
  contextSize: number | null = null;
  tokens = 0;
  /** Server time of the last sign of progress (an event, or a streamed token). */
  lastProgress = 0;
  /** The last restart that lost the agent's context (cleared by a later good session). */
  restarted: SessionEvent | null = null;
  /** The last error with the agent's stderr (the agent exited), until it runs again. */
  exited: ErrorEvent | null = null;
  readonly terminals = new Map<string, TerminalEvent>();
  readonly pending = new Map<string, PermissionRequestedEvent>();
  private readonly index = new Map<string, number>(); // row key -> position
  private readonly terminalOwners = new Map<string, string>(); // terminal id -> tool call id
  private streaming: { agent: string | null; thought: string | null } = {
    agent: null,
    thought: null,
  };
  private tokenRows = 0;

  /** The latest snapshot of a tool call (for a permission card to show what will run). */
  toolCall(toolCallId: string): ToolCallEvent | null {
    const at = this.index.get(`tool:${toolCallId}`);
    const row = at === undefined ? undefined : this.rows[at];
    return row?.type === "tool" ? row.call : null;
  }

  /** The model option (category ``model``), if the agent offers one. */
  get modelOption(): ConfigOption | null {
    return this.configOptions.find((o) => o.category === "model") ?? null;
  }

  /** Apply a batch of events in seq order (ones at or below ``lastSeq`` are skipped). */
  apply(batch: readonly AcpEvent[]): void {
    const rows = this.rows.slice();
    this.rows = rows;
    for (const event of batch) {
      if (event.seq <= this.lastSeq) continue;
      this.lastSeq = event.seq;
      this.events += 1;
      this.lastProgress = Math.max(this.lastProgress, event.ts);
      this.fold(event);
    }
  }

  /** A streamed text delta (live only): grows a provisional row until the whole text comes. */
  token(text: string, thought: boolean, now = Date.now() / 1000): void {
    this.lastProgress = Math.max(this.lastProgress, now);
    const kind = thought ? "thought" : "agent";
    const key = this.streaming[kind];
    const at = key === null ? undefined : this.index.get(key);
    const row = at === undefined ? undefined : this.rows[at];
    this.rows = this.rows.slice();
    if (at !== undefined && row && (row.type === "agent" || row.type === "thought")) {
      this.rows[at] = { ...row, text: row.text + text };
      return;
    }
    this.tokenRows += 1;
    const newKey = `stream:${this.tokenRows}`;
    this.streaming[kind] = newKey;
    this.push({ key: newKey, type: kind, seq: this.lastSeq, text, streaming: true });
  }

  /** Whether a running turn has shown no progress for ``STALL_SECONDS``. */
  stalled(now = Date.now() / 1000): boolean {
    return this.status === "running" && this.lastProgress > 0
      ? now - this.lastProgress > STALL_SECONDS
      : false;
  }

  private push(row: Row): void {
    this.index.set(row.key, this.rows.length);
    this.rows.push(row);
  }

  private put(row: Row): void {
    const at = this.index.get(row.key);
    if (at === undefined) this.push(row);
    else this.rows[at] = row;
  }

  /** The whole text of a streamed message replaces its provisional row, in place. */
  private settle(kind: "agent" | "thought", row: Row): void {
    const key = this.streaming[kind];
    this.streaming[kind] = null;
    const at = key === null ? undefined : this.index.get(key);
    if (key === null || at === undefined) {
      this.push(row);
      return;
    }
    this.index.delete(key);
    this.index.set(row.key, at);
    this.rows[at] = row;
  }

  private fold(event: AcpEvent): void {
    const base = { key: `e:${event.seq}`, seq: event.seq };
    switch (event.kind) {
      case "user_message":
        this.push({ ...base, type: "user", text: event.text });
        break;
      case "agent_message":
        // a loaded session replays its history: those messages are already in the stream
        if (!event.replay) {
          this.settle("agent", { ...base, type: "agent", text: event.text, streaming: false });
        }
        break;
      case "thought":
        this.settle("thought", { ...base, type: "thought", text: event.text, streaming: false });
        break;
      case "tool_call":
        this.toolCallEvent(event);
        break;
      case "terminal":
        this.terminal(event);
        break;
      case "plan":
        this.plan = event.entries;
        break;
      case "mode_changed":
        this.modeId = event.mode_id;
        if (event.available_modes) this.modes = event.available_modes;
        break;
      case "config_options":
        this.configOptions = event.config_options;
        break;
      case "session_info":
        if (event.title) this.title = event.title;
        break;
      case "usage":
        this.contextUsed = event.used ?? this.contextUsed;
        this.contextSize = event.size ?? this.contextSize;
        if (event.cost !== null) this.cost = event.cost;
        if (event.currency !== null) this.currency = event.currency;
        break;
      case "permission_requested":
        this.pending.set(event.request_id, event);
        this.push({
          key: `perm:${event.request_id}`,
          seq: event.seq,
          type: "permission",
          request: event,
          decided: null,
        });
        break;
      case "permission_decided":
        this.decide(event);
        break;
      case "turn_ended":
        this.turnEnded(event);
        this.push({ ...base, type: "turn", event });
        break;
      case "status_changed":
        this.status = event.status;
        break;
      case "error":
        if (event.stderr_tail) this.exited = event;
        this.push({ ...base, type: "error", event });
        break;
      case "session_started":
      case "session_loaded":
      case "session_resumed":
      case "session_restarted":
        this.session(event);
        break;
      default:
        break; // commands, raw and newer kinds: in the log, not in the stream
    }
  }

  private toolCallEvent(event: ToolCallEvent): void {
    const key = `tool:${event.tool_call_id}`;
    this.put({ key, seq: event.seq, type: "tool", call: event, rev: 0 });
    for (const block of event.content) {
      if (block.type === "terminal" && typeof block.terminalId === "string") {
        this.terminalOwners.set(block.terminalId, event.tool_call_id);
      }
    }
  }

  private terminal(event: TerminalEvent): void {
    this.terminals.set(event.terminal_id, event);
    // the tool call showing this terminal re-renders with its new output
    const owner = this.terminalOwners.get(event.terminal_id);
    const at = owner === undefined ? undefined : this.index.get(`tool:${owner}`);
    const row = at === undefined ? undefined : this.rows[at];
    if (at !== undefined && row?.type === "tool") this.rows[at] = { ...row, rev: row.rev + 1 };
  }

  private decide(event: PermissionDecidedEvent): void {
    this.pending.delete(event.request_id);
    const at = this.index.get(`perm:${event.request_id}`);
    const row = at === undefined ? undefined : this.rows[at];
    if (at !== undefined && row?.type === "permission") this.rows[at] = { ...row, decided: event };
  }

  private turnEnded(event: TurnEndedEvent): void {
    if (event.usage) this.tokens += event.usage.total_tokens;
    if (event.stop_reason === "end_turn") this.exited = null;
    for (const key of [this.streaming.agent, this.streaming.thought]) {
      const at = key === null ? undefined : this.index.get(key);
      const row = at === undefined ? undefined : this.rows[at];
      if (at !== undefined && (row?.type === "agent" || row?.type === "thought")) {
        this.rows[at] = { ...row, streaming: false }; // streamed text no message followed
      }
    }
    this.streaming = { agent: null, thought: null };
  }

  private session(event: SessionEvent): void {
    this.exited = null; // the agent runs again (a restart says so with its own banner)
    if (event.modes?.currentModeId) this.modeId = event.modes.currentModeId;
    if (event.modes?.availableModes) this.modes = event.modes.availableModes;
    if (event.config_options) this.configOptions = event.config_options;
    if (!event.context_restored) {
      this.restarted = event;
      this.push({ key: `e:${event.seq}`, seq: event.seq, type: "session", event });
    } else {
      this.restarted = null;
    }
  }
}
