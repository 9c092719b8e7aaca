// The event stream against a real WebSocket server (the `ws` package) that drops connections,
// repeats events and skips one, as networks and restarts do.
import { afterEach, describe, expect, it, vi } from "vitest";
import { type WebSocket as ServerSocket, WebSocketServer } from "ws";

import { type Connection, EventStream, type PageLoader, SeqFilter } from "../src/stream";
import type { AcpEvent } from "../src/types";
import { ev, resetSeq } from "./events";

const event = (seq: number): AcpEvent => {
  resetSeq();
  return ev("agent_message", { seq, text: `m${seq}` });
};
const send = (socket: ServerSocket, seq: number): void => {
  socket.send(JSON.stringify({ type: "event", event: event(seq) }));
};
const sendBatch = (socket: ServerSocket, seqs: number[]): void => {
  socket.send(JSON.stringify({ type: "events", events: seqs.map(event) }));
};

let server: WebSocketServer | null = null;
let stream: EventStream | null = null;

afterEach(() => {
  stream?.stop();
  server?.close();
});

async function serve(
  onConnect: (socket: ServerSocket, afterSeq: number, attempt: number, url: URL) => void,
): Promise<URL> {
  let attempt = 0;
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  server = wss;
  wss.on("connection", (socket, request) => {
    const url = new URL(request.url ?? "/", "http://x");
    attempt += 1;
    onConnect(socket, Number(url.searchParams.get("after_seq")), attempt, url);
  });
  await new Promise<void>((resolve) =>
    wss.on("listening", () => {
      resolve();
    }),
  );
  const address = wss.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return new URL(`http://127.0.0.1:${address.port}/`);
}

function open(base: URL, received: number[], states: Connection[], page?: PageLoader): EventStream {
  const s = new EventStream(
    "c1",
    {
      events: (batch) => received.push(...batch.map((e) => e.seq)),
      token: () => undefined,
      connection: (state) => states.push(state),
      page,
    },
    0,
    base,
  );
  s.start();
  return s;
}

describe("SeqFilter", () => {
  it("drops repeats and refuses a gap", () => {
    const filter = new SeqFilter(2);
    expect(filter.accept(event(2))).toBeNull();
    expect(filter.accept(event(3))?.seq).toBe(3);
    expect(() => filter.accept(event(5))).toThrow(/4\.\.4 are missing/);
  });
});

describe("EventStream", () => {
  it("resumes after a dropped socket from the last seq, without gap or duplicate", async () => {
    const afterSeqs: number[] = [];
    const base = await serve((socket, afterSeq, attempt) => {
      afterSeqs.push(afterSeq);
      if (attempt === 1) {
        for (let seq = 1; seq <= 5; seq += 1) send(socket, seq);
        socket.send(JSON.stringify({ type: "token", text: "partial", thought: false }));
        setTimeout(() => {
          socket.terminate();
        }, 50); // the connection drops
      } else {
        for (let seq = afterSeq - 1; seq <= 8; seq += 1) send(socket, seq); // repeats two
      }
    });
    const received: number[] = [];
    const states: Connection[] = [];
    stream = open(base, received, states);
    await vi.waitFor(
      () => {
        expect(received).toHaveLength(8);
      },
      { timeout: 5000 },
    );
    expect(received).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(afterSeqs).toEqual([0, 5]);
    expect(states).toContain("reconnecting");
    expect(states.at(-1)).toBe("open");
  });

  it("reconnects from the last seq it has when the server skips one", async () => {
    const afterSeqs: number[] = [];
    const base = await serve((socket, afterSeq) => {
      afterSeqs.push(afterSeq);
      if (afterSeq === 0)
        [1, 2, 4].forEach((seq) => {
          send(socket, seq);
        });
      else
        [3, 4].forEach((seq) => {
          send(socket, seq);
        });
    });
    const received: number[] = [];
    stream = open(base, received, []);
    await vi.waitFor(
      () => {
        expect(received).toEqual([1, 2, 3, 4]);
      },
      { timeout: 5000 },
    );
    expect(afterSeqs).toEqual([0, 2]);
  });

  it("loads the stored backlog in pages, then follows live from its end", async () => {
    const afterSeqs: number[] = [];
    const base = await serve((socket, afterSeq) => {
      afterSeqs.push(afterSeq);
      for (let seq = afterSeq; seq <= 7; seq += 1) send(socket, seq); // repeats the last one
    });
    const asked: number[] = [];
    const page: PageLoader = (after) => {
      asked.push(after);
      const last = Math.min(after + 2, 5); // 5 events stored, pages of 2
      const events = [];
      for (let seq = after + 1; seq <= last; seq += 1) events.push(event(seq));
      return Promise.resolve({ events, has_more: last < 5, next_after_seq: last });
    };
    const received: number[] = [];
    stream = open(base, received, [], page);
    await vi.waitFor(
      () => {
        expect(received).toHaveLength(7);
      },
      { timeout: 5000 },
    );
    expect(received).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(asked).toEqual([0, 2, 4]);
    expect(afterSeqs).toEqual([5]);
  });

  it("asks for batches and takes them like single events, repeats dropped", async () => {
    const asked: (string | null)[] = [];
    const base = await serve((socket, afterSeq, attempt, url) => {
      asked.push(url.searchParams.get("batch"));
      if (attempt > 1) return;
      sendBatch(socket, [1, 2, 3]);
      send(socket, 3); // a repeat, alone
      sendBatch(socket, [2, 3, 4, 5]); // repeats, then new ones
      send(socket, 6);
      sendBatch(socket, []);
      sendBatch(socket, [7]);
    });
    const received: number[] = [];
    stream = open(base, received, []);
    await vi.waitFor(
      () => {
        expect(received).toHaveLength(7);
      },
      { timeout: 5000 },
    );
    expect(received).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(asked).toEqual(["true"]);
  });

  it("reconnects from the last seq it has when a batch skips one", async () => {
    const afterSeqs: number[] = [];
    const base = await serve((socket, afterSeq) => {
      afterSeqs.push(afterSeq);
      if (afterSeq === 0) sendBatch(socket, [1, 2, 4, 5]);
      else sendBatch(socket, [3, 4, 5]);
    });
    const received: number[] = [];
    stream = open(base, received, []);
    await vi.waitFor(
      () => {
        expect(received).toEqual([1, 2, 3, 4, 5]);
      },
      { timeout: 5000 },
    );
    expect(afterSeqs).toEqual([0, 2]);
  });

  it("stops when the conversation is deleted (close code 4404)", async () => {
    let connections = 0;
    const base = await serve((socket) => {
      connections += 1;
      send(socket, 1);
      socket.close(4404, "deleted");
    });
    const received: number[] = [];
    const states: Connection[] = [];
    stream = open(base, received, states);
    await vi.waitFor(
      () => {
        expect(states.at(-1)).toBe("deleted");
      },
      { timeout: 5000 },
    );
    expect(received).toEqual([1]);
    expect(connections).toBe(1);
  });
});
