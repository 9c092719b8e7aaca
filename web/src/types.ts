// The shapes of the acphost REST/WebSocket API the console reads (see openapi.json and
// src/acphost/events.py). Agent payloads stay plain JSON, so they are typed loosely.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = Record<string, Json | undefined>;

export type Status = "idle" | "running" | "paused" | "finished" | "error";
export const STATUSES: readonly Status[] = ["idle", "running", "paused", "finished", "error"];

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  cached_read_tokens: number;
  cached_write_tokens: number;
  thought_tokens: number;
  total_tokens: number;
}

interface EventBase {
  seq: number;
  id: string;
  ts: number;
  source: "user" | "agent" | "host";
  turn: number | null;
}

export interface UserMessageEvent extends EventBase {
  kind: "user_message";
  text: string;
  /** Sent into the running turn (steer), not as a prompt of its own. */
  steered?: boolean;
}
export interface AgentMessageEvent extends EventBase {
  kind: "agent_message";
  text: string;
  replay?: boolean;
}
export interface ThoughtEvent extends EventBase {
  kind: "thought";
  text: string;
}
export interface ToolCallEvent extends EventBase {
  kind: "tool_call";
  tool_call_id: string;
  title: string;
  /** The tool's programmatic name (``Bash``, ``read_file``), when the agent gives it. */
  name?: string | null;
  tool_kind: string | null;
  status: string;
  content: JsonObject[];
  locations: JsonObject[];
  raw_input: Json;
  raw_output: Json;
}
export interface TerminalEvent extends EventBase {
  kind: "terminal";
  terminal_id: string;
  status: string;
  command: string;
  args: string[];
  cwd: string | null;
  output: string;
  truncated: boolean;
  exit_code: number | null;
  signal: string | null;
}
export interface PlanEntry {
  content: string;
  status: string;
  priority?: string;
}
export interface PlanEvent extends EventBase {
  kind: "plan";
  entries: PlanEntry[];
}
export interface Choice {
  id?: string;
  value?: string;
  name?: string;
  description?: string;
}
export interface ModeChangedEvent extends EventBase {
  kind: "mode_changed";
  mode_id: string;
  available_modes: Choice[] | null;
}
export interface ConfigOption {
  id: string;
  name?: string;
  category?: string;
  type?: string;
  currentValue?: string | boolean;
  options?: Choice[];
}
export interface ConfigOptionsEvent extends EventBase {
  kind: "config_options";
  config_options: ConfigOption[];
}
export interface SessionInfoEvent extends EventBase {
  kind: "session_info";
  title: string | null;
}
export interface UsageEvent extends EventBase {
  kind: "usage";
  used: number | null;
  size: number | null;
  cost: number | null;
  currency: string | null;
}
export interface PermissionOption {
  optionId: string;
  name: string;
  kind: string;
}
export interface PermissionRequestedEvent extends EventBase {
  kind: "permission_requested";
  request_id: string;
  tool_call_id: string;
  title: string;
  options: PermissionOption[];
  tool_call: JsonObject;
  /** The subagent session that asks; absent or null: the agent's own. */
  session_id?: string | null;
}
export interface PermissionDecidedEvent extends EventBase {
  kind: "permission_decided";
  request_id: string;
  decision: string;
  option_id: string | null;
  decided_by: "policy" | "callback" | "user" | "cancel" | "timeout";
}
export interface ElicitationRequestedEvent extends EventBase {
  kind: "elicitation_requested";
  request_id: string;
  /** ``form`` (fill ``requested_schema``) or ``url`` (consent to open ``url``). */
  mode: string;
  message: string;
  requested_schema: JsonObject | null;
  url: string | null;
  elicitation_id: string | null;
  tool_call_id: string | null;
}
export interface ElicitationAnsweredEvent extends EventBase {
  kind: "elicitation_answered";
  request_id: string;
  action: "accept" | "decline" | "cancel";
  content: JsonObject | null;
  answered_by: "policy" | "callback" | "user" | "cancel";
  reason: string;
}
export interface ElicitationCompletedEvent extends EventBase {
  kind: "elicitation_completed";
  elicitation_id: string;
  request_id: string | null;
  known: boolean;
}
export interface TurnStartedEvent extends EventBase {
  kind: "turn_started";
  prompt: string;
  attempt: number;
}
export interface TurnEndedEvent extends EventBase {
  kind: "turn_ended";
  stop_reason: string;
  usage: TokenUsage | null;
  cost: number | null;
  duration_s: number;
  error_code: string | null;
}
export interface TurnStalledEvent extends EventBase {
  kind: "turn_stalled";
  idle_s: number;
  pending_permissions: string[];
  /** Absent from an older server's events. */
  pending_elicitations?: string[];
  running_tools: { tool_call_id?: string; title?: string }[];
}
export interface TurnResumedEvent extends EventBase {
  kind: "turn_resumed";
  stalled_s: number;
}
export interface PermissionModeEvent extends EventBase {
  kind: "permission_mode";
  mode_id: string | null;
  can_ask: boolean;
  message: string;
}
export interface NoticeEvent extends EventBase {
  kind: "notice";
  severity: string;
  title: string;
  description: string | null;
}
export interface CompactionEvent extends EventBase {
  kind: "compaction";
  compaction_id: string;
  status: string;
  summary: JsonObject[];
  error: string | null;
}
export interface SubagentEvent extends EventBase {
  kind: "subagent";
  subagent_session_id: string;
  name: string;
  task: string;
  state: string;
}
export interface SubagentUpdateEvent extends EventBase {
  kind: "subagent_update";
  subagent_session_id: string;
  update_kind: string;
  data: JsonObject;
}
export interface StatusChangedEvent extends EventBase {
  kind: "status_changed";
  status: Status;
  previous: Status | null;
}
export interface ErrorEvent extends EventBase {
  kind: "error";
  code: string;
  message: string;
  hint: string;
  stderr_tail: string | null;
  details?: JsonObject;
}
export interface SessionEvent extends EventBase {
  kind:
    | "session_started"
    | "session_loaded"
    | "session_resumed"
    | "session_restarted"
    | "session_forked";
  session_id: string;
  context_restored: boolean;
  reason: string;
  modes: { currentModeId?: string; availableModes?: Choice[] } | null;
  config_options: ConfigOption[] | null;
}
/** Any other kind (commands, raw, and kinds newer than this console). */
export interface OtherEvent extends EventBase {
  kind: "commands" | "raw";
  [key: string]: unknown;
}

export type AcpEvent =
  | UserMessageEvent
  | AgentMessageEvent
  | ThoughtEvent
  | ToolCallEvent
  | TerminalEvent
  | PlanEvent
  | ModeChangedEvent
  | ConfigOptionsEvent
  | SessionInfoEvent
  | UsageEvent
  | PermissionRequestedEvent
  | PermissionDecidedEvent
  | ElicitationRequestedEvent
  | ElicitationAnsweredEvent
  | ElicitationCompletedEvent
  | TurnStartedEvent
  | TurnEndedEvent
  | TurnStalledEvent
  | TurnResumedEvent
  | PermissionModeEvent
  | NoticeEvent
  | CompactionEvent
  | SubagentEvent
  | SubagentUpdateEvent
  | StatusChangedEvent
  | ErrorEvent
  | SessionEvent
  | OtherEvent;

/** One WebSocket message: a stored event, or a live-only streamed text delta. */
export type StreamMessage =
  | { type: "event"; event: AcpEvent }
  | { type: "events"; events: AcpEvent[] }
  | { type: "token"; text: string; thought: boolean };

/** A message of ``WS /api/conversations/changes``: a list row changed, or was deleted. */
export type ChangeMessage =
  { type: "conversation"; conversation: ConversationSummary } | { type: "deleted"; id: string };

export interface EventPage {
  events: AcpEvent[];
  next_after_seq: number;
  has_more: boolean;
}

export interface AgentInfo {
  name: string;
  title: string;
  installed: boolean;
  install: string;
  credentials: string[];
  notes: string;
}

export interface ConversationSummary {
  id: string;
  agent: string;
  workspace: string;
  title: string | null;
  status: Status;
  created_at: number;
  updated_at: number;
  live: boolean;
  // added for the console (optional: older servers lack them)
  cost?: number | null;
  currency?: string | null;
  pending_permission_count?: number;
  pending_elicitation_count?: number;
  running?: boolean;
}

export interface ConversationPage {
  conversations: ConversationSummary[];
  total: number;
}

export interface ConversationDetail extends ConversationSummary {
  running: boolean;
  last_seq: number;
  permission: string;
  cost: number | null;
  currency: string | null;
  usage: TokenUsage;
  context_used: number | null;
  context_size: number | null;
  mode_id: string | null;
  modes: Choice[];
  model: string | null;
  models: Choice[];
  config_options: ConfigOption[];
  plan: PlanEntry[];
}

export interface SessionInfo {
  auth_required: boolean;
  signed_in: boolean;
  csrf_token: string | null;
  default_workspace?: string | null;
}

export interface CreateRequest {
  agent: string;
  workspace: string;
  permission: "ask" | "allow" | "deny";
  message?: string;
  title?: string;
  mode?: string;
  model?: string;
  max_cost?: number;
}

/** A stored job and how far it got (``GET /api/jobs``). */
export interface JobSummary {
  id: string;
  status: string;
  tasks: number;
  agents: string[];
  cells: number;
  finished: number;
  passed: number;
  created_at: number;
  updated_at: number;
}

/** One trial: a (task, agent, attempt) cell, its outcome, figures and conversation. */
export interface Trial {
  task_id: string;
  agent: string;
  attempt: number;
  outcome: string;
  conversation_id: string | null;
  cost: number | null;
  currency: string | null;
  total_tokens: number;
  wall_time: number;
  stop_reason: string | null;
}

/** One agent's figures over its finished trials. */
export interface AgentStats {
  agent: string;
  trials: number;
  passed: number;
  pass_rate: number | null;
  pass_rate_low: number;
  pass_rate_high: number;
  total_cost: number | null;
  cost_per_solved: number | null;
  median_time: number | null;
  mean_tokens: number | null;
}

/** A job's results (``GET /api/jobs/{id}``): every trial, the grid's axes, per-agent figures. */
export interface JobDetail extends JobSummary {
  results: { job: string; tasks: string[]; agents: string[]; trials: Trial[]; stats: AgentStats[] };
}
