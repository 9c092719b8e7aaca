// A conversation's event stream: the stored backlog in pages over REST (a page of 1,000 events
// is one response, where the socket would send 1,000 messages), then live over the WebSocket
// from the last seq received, asking for batches (`&batch=true`: several events in one
// `{"type": "events", "events": [...]}` message; single `{"type": "event"}` messages are
// accepted too, from a server that does not batch).
//
// Events are deduplicated by seq (a resumed socket may repeat what we have) and handed over in
// batches, so a 20,000-event backlog costs one render per batch instead of one per event. A
// dropped socket catches up and reconnects with backoff from the last seq delivered; a gap
// (never expected: the server sends in order) reconnects from the last seq we have.

import type { AcpEvent, StreamMessage } from "./types";

/** Stored events after a seq, a page at a time (GET /api/conversations/{id}/events). */
export type PageLoader = (
  afterSeq: number,
) => Promise<{ events: AcpEvent[]; has_more: boolean; next_after_seq: number }>;

export type Connection = "connecting" | "open" | "reconnecting" | "deleted" | "closed";

export interface StreamHandlers {
  /** A batch in seq order; ``more`` while the stored backlog is still being loaded. */
  events(batch: AcpEvent[], more: boolean): void;
  token(text: string, thought: boolean): void;
  connection(state: Connection): void;
  /** After a failed connect: resolve true to keep trying (e.g. the session is still valid). */
  failed?(attempt: number): Promise<boolean>;
  /** Catch up over REST before each (re)connect; without it the socket sends the backlog. */
  page?: PageLoader;
}

/** The close code the server uses for a deleted conversation. */
export const DELETED = 4404;
const BACKOFF_MS = [100, 250, 500, 1000, 2000, 4000];
/** How long events wait to be handed over together (a storm arrives as a few big batches). */
const BATCH_MS = 40;

export function streamUrl(base: Location | URL, conversationId: string, afterSeq: number): string {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  const id = encodeURIComponent(conversationId);
  return `${scheme}//${base.host}/api/conversations/${id}/events?after_seq=${afterSeq}&batch=true`;
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
  private readonly filter: SeqFilter;

  constructor(
    private readonly conversationId: string,
    private readonly handlers: StreamHandlers,
    afterSeq = 0,
    /** Where the server is: the page's own origin. */
    private readonly base: Location | URL = location,
  ) {
    this.filter = new SeqFilter(afterSeq);
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the console");
  }

  /** Drop the socket: it reconnects from the last seq delivered (after a gap). */
  private reconnect(): void {
    this.socket?.close(4000, "reconnect");
  }

  private open(): void {
    this.handlers.connection(this.attempt === 0 ? "connecting" : "reconnecting");
    this.catchUp().then(
      (caughtUp) => {
        if (caughtUp) this.connect();
        else void this.retry();
      },
      (error: unknown) => {
        console.warn("acphost console: catching up failed:", error);
        void this.retry();
      },
    );
  }

  /** Load the stored events after the last seq, a page at a time; false after a gap. */
  private async catchUp(): Promise<boolean> {
    const page = this.handlers.page;
    if (!page) return true;
    let next = page(this.filter.last);
    for (;;) {
      const { events, has_more, next_after_seq } = await next;
      if (this.stopped) return false;
      const more = has_more && events.length > 0;
      if (more) next = page(next_after_seq); // in flight while this page is handled
      for (const event of events) {
        if (!this.accept(event)) {
          if (more) next.catch(() => undefined);
          return false;
        }
      }
      this.flush(more);
      if (!more) return true;
    }
  }

  private connect(): void {
    if (this.stopped) return;
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
        this.handlers.connection("deleted");
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
    const events =
      message.type === "event" ? [message.event] : message.type === "events" ? message.events : [];
    if (events.length === 0) return;
    for (const event of events) {
      if (!this.accept(event)) {
        this.reconnect();
        return;
      }
    }
    this.flushTimer ??= setTimeout(() => {
      this.flush();
    }, BATCH_MS);
  }

  /** Queue an event unless we have it; false on a gap (the caller reconnects). */
  private accept(event: AcpEvent): boolean {
    try {
      if (this.filter.accept(event) !== null) this.pending.push(event);
      return true;
    } catch (error) {
      if (!(error instanceof GapError)) throw error;
      console.warn(`acphost console: ${error.message}; reconnecting`);
      return false;
    }
  }

  private flush(more = false): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.handlers.events(batch, more);
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
