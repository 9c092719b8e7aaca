// The conversations list, live: `WS /api/conversations/changes` sends a row whenever a
// conversation is created or changes, and `{"type": "deleted", "id"}`. Nothing historical comes
// on connect, so the list connects first and then GETs the page; changes that arrive while a
// GET is in flight are applied again to its result (a row's `updated_at` says which is newer).
// While the feed is down the list polls, and the feed reconnects with backoff.

import type { ChangeMessage, ConversationSummary, Status } from "./types";

export interface ListFilter {
  status: Status | "";
  search: string;
}

export interface ChangeHandlers {
  change(message: ChangeMessage): void;
  /** ``true`` once connected (GET the list then), ``false`` while down (poll meanwhile). */
  connection(open: boolean): void;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export function changesUrl(base: Location | URL): string {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}/api/conversations/changes`;
}

/** Whether a row belongs in the list under ``filter`` (as the server's search matches). */
export function matches(row: ConversationSummary, filter: ListFilter): boolean {
  if (filter.status && row.status !== filter.status) return false;
  const needle = filter.search.toLowerCase();
  if (!needle) return true;
  return (row.title ?? "").toLowerCase().includes(needle) || row.id.toLowerCase().includes(needle);
}

export interface Applied {
  rows: ConversationSummary[];
  /** The page's total or its membership may have changed: re-GET it (debounced). */
  reload: boolean;
}

/** ``rows`` (most recently updated first) with one change applied; never an older row. */
export function applyChange(
  rows: readonly ConversationSummary[],
  message: ChangeMessage,
  filter: ListFilter,
): Applied {
  if (message.type === "deleted") {
    const kept = rows.filter((r) => r.id !== message.id);
    return { rows: kept.length === rows.length ? [...rows] : kept, reload: true };
  }
  const row = message.conversation;
  const index = rows.findIndex((r) => r.id === row.id);
  const known = index >= 0 ? rows[index] : undefined;
  if (known !== undefined && known.updated_at > row.updated_at) {
    return { rows: [...rows], reload: false }; // the list has a newer one already
  }
  const others = rows.filter((r) => r.id !== row.id);
  if (!matches(row, filter)) return { rows: others, reload: known !== undefined };
  const at = others.findIndex((r) => r.updated_at < row.updated_at);
  others.splice(at < 0 ? others.length : at, 0, row);
  return { rows: others, reload: known === undefined }; // a new one: the total moved
}

export class ChangeFeed {
  private socket: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;

  constructor(
    private readonly handlers: ChangeHandlers,
    /** Where the server is: the page's own origin. */
    private readonly base: Location | URL = location,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the console");
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new WebSocket(changesUrl(this.base));
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.handlers.connection(true);
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      // a newer server may send other message types: they are not for us
      const change = JSON.parse(message.data) as ChangeMessage | { type: "other" };
      if (change.type === "conversation" || change.type === "deleted") this.handlers.change(change);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return; // replaced or stopped
      this.socket = null;
      this.handlers.connection(false);
      this.attempt += 1;
      const delay = BACKOFF_MS[Math.min(this.attempt - 1, BACKOFF_MS.length - 1)] ?? 8000;
      this.retryTimer = setTimeout(() => {
        this.connect();
      }, delay);
    };
  }
}
