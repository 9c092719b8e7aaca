// The fold of a conversation's events into what the console shows: the rows of the stream
// (one per message, thought, tool call, permission request, turn end, error, session change,
// note, compaction, subagent) and the conversation's current facts (status, mode, model, usage,
// plan, banners).
//
// Rows are immutable: an update (a tool call's new snapshot, a permission's decision) replaces
// its row object, so a memoised row component re-renders only when its row changed.

import type {
  AcpEvent,
  Choice,
  CompactionEvent,
  ConfigOption,
  ElicitationAnsweredEvent,
  ElicitationCompletedEvent,
  ElicitationRequestedEvent,
  ErrorEvent,
  PermissionDecidedEvent,
  PermissionModeEvent,
  PermissionRequestedEvent,
  PlanEntry,
  SessionEvent,
  Status,
  SubagentEvent,
  SubagentUpdateEvent,
  TerminalEvent,
  ToolCallEvent,
  TurnEndedEvent,
  TurnStalledEvent,
} from "./types";

/** How loud a note is: ``info`` (grey), ``warn`` (amber), ``error`` (red). */
export type Tone = "info" | "warn" | "error";

/** A subagent the agent spawned, and what it did (its text, and how many updates). */
export interface Subagent {
  event: SubagentEvent;
  text: string;
  updates: number;
}

export type Row =
  | { key: string; type: "user"; seq: number; text: string; steered: boolean }
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
  | {
      key: string;
      type: "elicitation";
      seq: number;
      request: ElicitationRequestedEvent;
      answered: ElicitationAnsweredEvent | null;
      completed: ElicitationCompletedEvent | null;
    }
  | { key: string; type: "turn"; seq: number; event: TurnEndedEvent }
  | { key: string; type: "error"; seq: number; event: ErrorEvent }
  | { key: string; type: "session"; seq: number; event: SessionEvent }
  | {
      key: string;
      type: "note";
      seq: number;
      /** What it is about: ``stalled``, ``resumed``, ``permission_mode``, ``notice``. */
      what: string;
      tone: Tone;
      title: string;
      detail: string;
    }
  | { key: string; type: "compaction"; seq: number; event: CompactionEvent }
  | { key: string; type: "subagent"; seq: number; subagent: Subagent };

export type RowType = Row["type"];

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
  /** The running turn's stall, as the host reported it (until it resumes or ends). */
  stall: TurnStalledEvent | null = null;
  /** The host's word that the agent will act without asking (``can_ask`` false). */
  unguarded: PermissionModeEvent | null = null;
  /** The last restart that lost the agent's context (cleared by a later good session). */
  restarted: SessionEvent | null = null;
  /** The last error with the agent's stderr (the agent exited), until it runs again. */
  exited: ErrorEvent | null = null;
  readonly terminals = new Map<string, TerminalEvent>();
  readonly pending = new Map<string, PermissionRequestedEvent>();
  /** What the agent asks (elicitations) that waits for an answer. */
  readonly asking = new Map<string, ElicitationRequestedEvent>();
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
      this.fold(event);
    }
  }

  /** A streamed text delta (live only): grows a provisional row until the whole text comes. */
  token(text: string, thought: boolean): void {
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
        // the agent's echo of the prompt (user_message_chunk) is not a new message
        if (event.source !== "agent") {
          this.push({ ...base, type: "user", text: event.text, steered: event.steered === true });
        }
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
      case "elicitation_requested":
        this.asking.set(event.request_id, event);
        this.push({
          key: `elicit:${event.request_id}`,
          seq: event.seq,
          type: "elicitation",
          request: event,
          answered: null,
          completed: null,
        });
        break;
      case "elicitation_answered":
      case "elicitation_completed":
        this.elicitation(event);
        break;
      case "turn_ended":
        this.turnEnded(event);
        this.push({ ...base, type: "turn", event });
        break;
      case "turn_stalled":
        this.stall = event;
        this.push({ ...base, type: "note", what: "stalled", tone: "warn", ...stallText(event) });
        break;
      case "turn_resumed":
        this.stall = null;
        this.push({
          ...base,
          type: "note",
          what: "resumed",
          tone: "info",
          title: `The agent moved again after ${seconds(event.stalled_s)}`,
          detail: "",
        });
        break;
      case "permission_mode":
        this.permissionMode(event);
        break;
      case "notice":
        this.push({
          ...base,
          type: "note",
          what: "notice",
          tone: toneOf(event.severity),
          title: event.title,
          detail: event.description ?? "",
        });
        break;
      case "compaction":
        this.put({
          key: `compaction:${event.compaction_id}`,
          seq: event.seq,
          type: "compaction",
          event,
        });
        break;
      case "subagent":
      case "subagent_update":
        this.subagent(event);
        break;
      case "status_changed":
        this.status = event.status;
        if (event.status !== "running") this.stall = null;
        break;
      case "error":
        if (event.stderr_tail) this.exited = event;
        this.push({ ...base, type: "error", event });
        break;
      case "session_started":
      case "session_loaded":
      case "session_resumed":
      case "session_restarted":
      case "session_forked":
        this.session(event);
        break;
      default:
        break; // commands, raw (replayed history too) and newer kinds: in the log only
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

  private elicitation(event: ElicitationAnsweredEvent | ElicitationCompletedEvent): void {
    if (event.request_id === null) return; // a completion of nothing known: in the log only
    if (event.kind === "elicitation_answered") this.asking.delete(event.request_id);
    const at = this.index.get(`elicit:${event.request_id}`);
    const row = at === undefined ? undefined : this.rows[at];
    if (at === undefined || row?.type !== "elicitation") return;
    this.rows[at] =
      event.kind === "elicitation_answered"
        ? { ...row, answered: event }
        : { ...row, completed: event };
  }

  private permissionMode(event: PermissionModeEvent): void {
    this.unguarded = event.can_ask ? null : event;
    if (event.can_ask) return; // the policy holds: nothing to warn about
    this.push({
      key: `e:${event.seq}`,
      seq: event.seq,
      type: "note",
      what: "permission_mode",
      tone: "warn",
      title: "The agent will act without asking for permission",
      detail: event.message,
    });
  }

  /** A subagent's card: made when it is spawned (or first heard of), updated in place. */
  private subagent(event: SubagentEvent | SubagentUpdateEvent): void {
    const key = `subagent:${event.subagent_session_id}`;
    const at = this.index.get(key);
    const row = at === undefined ? undefined : this.rows[at];
    const before: Subagent =
      row?.type === "subagent"
        ? row.subagent
        : {
            event: { ...event, kind: "subagent", name: "", task: "", state: "running" },
            text: "",
            updates: 0,
          };
    const after: Subagent =
      event.kind === "subagent"
        ? { ...before, event }
        : { ...before, updates: before.updates + 1, text: before.text + chunkText(event) };
    this.put({ key, seq: row?.seq ?? event.seq, type: "subagent", subagent: after });
  }

  /** The name a subagent session goes by (for a permission request it makes). */
  subagentName(sessionId: string): string {
    const at = this.index.get(`subagent:${sessionId}`);
    const row = at === undefined ? undefined : this.rows[at];
    return row?.type === "subagent" && row.subagent.event.name
      ? row.subagent.event.name
      : sessionId;
  }

  private turnEnded(event: TurnEndedEvent): void {
    this.stall = null;
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

function seconds(value: number): string {
  return value < 120 ? `${Math.round(value)} s` : `${Math.round(value / 60)} min`;
}

function toneOf(severity: string): Tone {
  return severity === "error" ? "error" : severity === "warning" ? "warn" : "info";
}

/** What a stalled turn waits for, in words. */
export function stallText(event: TurnStalledEvent): { title: string; detail: string } {
  const waits: string[] = [];
  const asks = event.pending_permissions.length;
  if (asks > 0) waits.push(asks === 1 ? "a permission request" : `${asks} permission requests`);
  const questions = event.pending_elicitations?.length ?? 0;
  if (questions > 0)
    waits.push(questions === 1 ? "your answer to a question" : `${questions} questions`);
  const tools = event.running_tools.map((t) => t.title ?? t.tool_call_id ?? "a tool call");
  if (tools.length > 0) waits.push(`running: ${tools.join(", ")}`);
  return {
    title: `No progress from the agent for ${seconds(event.idle_s)}`,
    detail: waits.length > 0 ? `Waiting on ${waits.join("; ")}.` : "",
  };
}

/** The text an agent_message_chunk of a subagent carried (other updates: none). */
function chunkText(event: SubagentUpdateEvent): string {
  if (event.update_kind !== "agent_message_chunk") return "";
  const content = event.data.content;
  if (content && typeof content === "object" && !Array.isArray(content)) {
    const text = content.text;
    return typeof text === "string" ? text : "";
  }
  return "";
}
