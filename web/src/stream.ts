// A conversation's live event stream over the WebSocket, resumed from the last seq received.
//
// Events are deduplicated by seq (a resumed socket may repeat what we have) and handed over in
// batches, so a 20,000-event backlog costs one render per batch instead of one per event. A
// dropped socket reconnects with backoff and `after_seq` set to the last seq delivered; a gap
// (never expected: the server sends in order) reconnects from the last seq we have.

import type { AcpEvent, StreamMessage } from "./types";

export type Connection = "connecting" | "open" | "reconnecting" | "deleted" | "closed";

export interface StreamHandlers {
  events(batch: AcpEvent[]): void;
  token(text: string, thought: boolean): void;
  connection(state: Connection, detail?: string): void;
  /** After a failed connect: resolve true to keep trying (e.g. the session is still valid). */
  failed?(attempt: number): Promise<boolean>;
}

/** The close code the server uses for a deleted conversation. */
export const DELETED = 4404;
const BACKOFF_MS = [100, 250, 500, 1000, 2000, 4000];
const BATCH_MS = 16;

export function streamUrl(base: Location | URL, conversationId: string, afterSeq: number): string {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  const id = encodeURIComponent(conversationId);
  return `${scheme}//${base.host}/api/conversations/${id}/events?after_seq=${afterSeq}`;
}

/** Accepts messages in any order of arrival; keeps events in seq order, once each. */
export class SeqFilter {
  constructor(public last = 0) {}

  /** The event to deliver, or null if it was delivered already; throws on a gap. */
  accept(event: AcpEvent): AcpEvent | null {
    if (event.seq <= this.last) return null;
    if (event.seq !== this.last + 1) throw new GapError(this.last, event.seq);
    this.last = event.seq;
    return event;
  }
}

export class GapError extends Error {
  constructor(
    readonly last: number,
    readonly got: number,
  ) {
    super(`events ${last + 1}..${got - 1} are missing`);
  }
}

export class EventStream {
  private socket: WebSocket | null = null;
  private pending: AcpEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;
  readonly filter: SeqFilter;
  /** How many events were delivered (for tests and benchmarks). */
  delivered = 0;

  constructor(
    private readonly conversationId: string,
    private readonly handlers: StreamHandlers,
    afterSeq = 0,
    /** Where the server is: the page's own origin. */
    private readonly base: Location | URL = location,
  ) {
    this.filter = new SeqFilter(afterSeq);
  }

  get lastSeq(): number {
    return this.filter.last;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.flush();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the console");
  }

  /** Drop the socket and reconnect at once (a test hook; also used after a gap). */
  reconnect(): void {
    this.socket?.close(4000, "reconnect");
  }

  private open(): void {
    this.handlers.connection(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(streamUrl(this.base, this.conversationId, this.filter.last));
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.handlers.connection("open");
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      this.receive(message.data);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return; // replaced or stopped
      this.socket = null;
      this.flush();
      if (close.code === DELETED) {
        this.handlers.connection("deleted", close.reason);
        return;
      }
      void this.retry();
    };
  }

  private receive(data: string): void {
    // a newer server may send other message types: they are not for us
    const message = JSON.parse(data) as StreamMessage | { type: "other" };
    if (message.type === "token") {
      this.flush(); // tokens come after the events before them
      this.handlers.token(message.text, message.thought);
      return;
    }
    if (message.type !== "event") return;
    let event: AcpEvent | null;
    try {
      event = this.filter.accept(message.event);
    } catch (error) {
      if (!(error instanceof GapError)) throw error;
      console.warn(`acphost console: ${error.message}; reconnecting`);
      this.reconnect();
      return;
    }
    if (event === null) return;
    this.pending.push(event);
    this.flushTimer ??= setTimeout(() => {
      this.flush();
    }, BATCH_MS);
  }

  private flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.delivered += batch.length;
    this.handlers.events(batch);
  }

  private async retry(): Promise<void> {
    if (this.stopped) return;
    this.attempt += 1;
    this.handlers.connection("reconnecting");
    if (this.handlers.failed && !(await this.handlers.failed(this.attempt))) {
      this.handlers.connection("closed");
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt - 1, BACKOFF_MS.length - 1)] ?? 4000;
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}
