// The change feed: how a change lands in the visible rows, and the feed's socket against a real
// WebSocket server (the `ws` package) that drops it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocketServer } from "ws";

import { applyChange, ChangeFeed, type ListFilter } from "../src/changes";
import type { ChangeMessage, ConversationSummary } from "../src/types";

const row = (id: string, updated_at: number, extra: Partial<ConversationSummary> = {}) => ({
  id,
  agent: "demo",
  workspace: "/w",
  title: `title ${id}`,
  status: "idle" as const,
  created_at: 1,
  updated_at,
  live: true,
  ...extra,
});
const any: ListFilter = { status: "", search: "" };
const changed = (r: ConversationSummary): ChangeMessage => ({
  type: "conversation",
  conversation: r,
});
const ids = (rows: ConversationSummary[]): string[] => rows.map((r) => r.id);

describe("applyChange", () => {
  const rows = [row("a", 30), row("b", 20), row("c", 10)];

  it("moves a changed row to its place by last activity, in place of the old one", () => {
    const applied = applyChange(rows, changed(row("c", 40, { status: "running" })), any);
    expect(ids(applied.rows)).toEqual(["c", "a", "b"]);
    expect(applied.rows[0]?.status).toBe("running");
    expect(applied.reload).toBe(false);
  });

  it("inserts a new row at once and asks for a re-GET (the total moved)", () => {
    const applied = applyChange(rows, changed(row("d", 25)), any);
    expect(ids(applied.rows)).toEqual(["a", "d", "b", "c"]);
    expect(applied.reload).toBe(true);
  });

  it("never replaces a row with an older one", () => {
    const applied = applyChange(rows, changed(row("a", 5, { title: "stale" })), any);
    expect(applied.rows).toEqual(rows);
  });

  it("keeps to the status filter and the search, as the server matches them", () => {
    const waiting: ListFilter = { status: "idle", search: "" };
    const left = applyChange(rows, changed(row("b", 50, { status: "running" })), waiting);
    expect(ids(left.rows)).toEqual(["a", "c"]);
    expect(left.reload).toBe(true);
    const search: ListFilter = { status: "", search: "NOTES" };
    expect(applyChange([], changed(row("x", 1, { title: "the notes" })), search).rows).toHaveLength(
      1,
    );
    expect(applyChange([], changed(row("x", 1, { title: "other" })), search).rows).toHaveLength(0);
    expect(
      applyChange([], changed(row("ab12", 1)), { status: "", search: "B1" }).rows,
    ).toHaveLength(1);
  });

  it("removes a deleted row", () => {
    const applied = applyChange(rows, { type: "deleted", id: "b" }, any);
    expect(ids(applied.rows)).toEqual(["a", "c"]);
    expect(applied.reload).toBe(true);
  });
});

let server: WebSocketServer | null = null;
let feed: ChangeFeed | null = null;

afterEach(() => {
  feed?.stop();
  server?.close();
});

describe("ChangeFeed", () => {
  it("hands over the changes and reconnects after a drop", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    server = wss;
    const paths: string[] = [];
    wss.on("connection", (socket, request) => {
      paths.push(request.url ?? "");
      if (paths.length === 1) {
        socket.send(JSON.stringify(changed(row("a", 1))));
        socket.send(JSON.stringify({ type: "future", what: "ignored" }));
        setTimeout(() => {
          socket.terminate();
        }, 50);
      } else {
        socket.send(JSON.stringify({ type: "deleted", id: "a" }));
      }
    });
    await new Promise<void>((resolve) => wss.on("listening", resolve));
    const address = wss.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const got: ChangeMessage[] = [];
    const states: boolean[] = [];
    feed = new ChangeFeed(
      { change: (m) => got.push(m), connection: (open) => states.push(open) },
      new URL(`http://127.0.0.1:${address.port}/`),
    );
    feed.start();
    await vi.waitFor(
      () => {
        expect(got).toHaveLength(2);
      },
      { timeout: 5000 },
    );
    expect(got.map((m) => m.type)).toEqual(["conversation", "deleted"]);
    expect(states).toEqual([true, false, true]);
    expect(paths).toEqual(["/api/conversations/changes", "/api/conversations/changes"]);
  });
});
