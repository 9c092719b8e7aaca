import { beforeEach, describe, expect, it } from "vitest";

import { Timeline } from "../src/timeline";
import { ev, resetSeq, toolCall } from "./events";

beforeEach(resetSeq);

describe("Timeline", () => {
  it("updates a tool call's card in place, as a new row object", () => {
    const t = new Timeline();
    t.apply([ev("user_message", { text: "hi" }), toolCall("a", "pending")]);
    const before = t.rows[1];
    t.apply([ev("agent_message", { text: "working" }), toolCall("a", "completed")]);
    expect(t.rows.map((r) => r.type)).toEqual(["user", "tool", "agent"]);
    const after = t.rows[1];
    expect(after).not.toBe(before);
    expect(after?.type === "tool" && after.call.status).toBe("completed");
  });

  it("skips events it already has (a resumed socket may repeat them)", () => {
    const t = new Timeline();
    const batch = [ev("user_message", { text: "a" }), ev("agent_message", { text: "b" })];
    t.apply(batch);
    t.apply(batch);
    expect(t.rows).toHaveLength(2);
    expect(t.events).toBe(2);
    expect(t.lastSeq).toBe(2);
  });

  it("tracks a permission request until it is decided", () => {
    const t = new Timeline();
    t.apply([
      toolCall("w", "pending", {
        content: [{ type: "diff", path: "/a.py", oldText: null, newText: "x" }],
      }),
      ev("permission_requested", {
        request_id: "9",
        tool_call_id: "w",
        title: "Write a.py",
        options: [{ optionId: "allow_once", name: "Allow once", kind: "allow_once" }],
        tool_call: {},
      }),
    ]);
    expect([...t.pending.keys()]).toEqual(["9"]);
    expect(t.toolCall("w")?.content[0]?.type).toBe("diff");
    t.apply([
      ev("permission_decided", {
        request_id: "9",
        decision: "allow_once",
        option_id: "allow_once",
        decided_by: "user",
      }),
    ]);
    expect(t.pending.size).toBe(0);
    const card = t.rows.find((r) => r.type === "permission");
    expect(card?.type === "permission" && card.decided?.decision).toBe("allow_once");
  });

  it("grows streamed text in one row, replaced in place by the whole message", () => {
    const t = new Timeline();
    t.apply([ev("user_message", { text: "q" })]);
    t.token("Hel", false);
    t.token("lo", false);
    t.token("hmm", true);
    expect(t.rows.map((r) => r.type)).toEqual(["user", "agent", "thought"]);
    expect(t.rows[1]?.type === "agent" && t.rows[1].text).toBe("Hello");
    t.apply([ev("thought", { text: "hmm." }), ev("agent_message", { text: "Hello!" })]);
    expect(t.rows.map((r) => [r.type, "text" in r ? r.text : ""])).toEqual([
      ["user", "q"],
      ["agent", "Hello!"],
      ["thought", "hmm."],
    ]);
    expect(t.rows.every((r) => !("streaming" in r) || !r.streaming)).toBe(true);
  });

  it("ends streamed text the turn left without a whole message, and skips replayed history", () => {
    const t = new Timeline();
    t.token("partial", false);
    t.apply([
      ev("turn_ended", {
        stop_reason: "cancelled",
        usage: null,
        cost: null,
        duration_s: 1,
        error_code: null,
      }),
      ev("agent_message", { text: "old answer", replay: true }),
    ]);
    expect(t.rows.map((r) => [r.type, "streaming" in r && r.streaming])).toEqual([
      ["agent", false],
      ["turn", false],
    ]);
  });

  it("keeps the session's facts: status, mode, model, usage, plan", () => {
    const t = new Timeline();
    t.apply([
      ev("session_started", {
        session_id: "s",
        context_restored: true,
        reason: "",
        modes: { currentModeId: "code", availableModes: [{ id: "ask" }, { id: "code" }] },
        config_options: [{ id: "m", category: "model", currentValue: "small", options: [] }],
      }),
      ev("status_changed", { status: "running", previous: "idle" }),
      ev("plan", { entries: [{ content: "step", status: "in_progress" }] }),
      ev("usage", { used: 50, size: 1000, cost: 0.5, currency: "USD" }),
      ev("mode_changed", { mode_id: "ask", available_modes: null }),
      ev("turn_ended", {
        stop_reason: "end_turn",
        usage: { total_tokens: 42 },
        cost: 0.5,
        duration_s: 1,
        error_code: null,
      }),
    ]);
    expect(t.status).toBe("running");
    expect(t.modeId).toBe("ask");
    expect(t.modes).toHaveLength(2);
    expect(t.modelOption?.currentValue).toBe("small");
    expect(t.plan[0]?.content).toBe("step");
    expect([t.contextUsed, t.contextSize, t.cost, t.tokens]).toEqual([50, 1000, 0.5, 42]);
  });

  it("says when a restart lost the context and when the agent exited", () => {
    const t = new Timeline();
    t.apply([
      ev("session_restarted", {
        session_id: "s2",
        context_restored: false,
        reason: "agent died",
        modes: null,
        config_options: null,
      }),
      ev("error", {
        code: "agent_exited",
        message: "the agent exited",
        hint: "",
        stderr_tail: "Traceback: boom",
      }),
    ]);
    expect(t.restarted?.reason).toBe("agent died");
    expect(t.exited?.stderr_tail).toBe("Traceback: boom");
    expect(t.rows.map((r) => r.type)).toEqual(["session", "error"]);
    t.apply([
      ev("session_loaded", {
        session_id: "s3",
        context_restored: true,
        reason: "",
        modes: null,
        config_options: null,
      }),
    ]);
    expect(t.restarted).toBeNull();
    expect(t.exited).toBeNull();
  });

  it("re-renders a tool call when its terminal has new output", () => {
    const t = new Timeline();
    const terminal = {
      terminal_id: "t1",
      command: "ls",
      args: [],
      cwd: null,
      truncated: false,
      exit_code: null,
      signal: null,
    };
    t.apply([
      toolCall("x", "in_progress", { content: [{ type: "terminal", terminalId: "t1" }] }),
      ev("terminal", { ...terminal, status: "started", output: "" }),
    ]);
    const before = t.rows[0];
    t.apply([
      ev("terminal", {
        ...terminal,
        status: "released",
        output: "\u001b[32mok\u001b[0m",
        exit_code: 0,
      }),
    ]);
    expect(t.rows[0]).not.toBe(before);
    expect(t.terminals.get("t1")?.output).toContain("ok");
  });

  it("says a turn stalled when the host says so, until it resumes or ends", () => {
    const t = new Timeline();
    t.apply([ev("status_changed", { status: "running", previous: "idle" })]);
    expect(t.stall).toBeNull();
    t.apply([
      ev("turn_stalled", {
        idle_s: 61,
        pending_permissions: ["7"],
        running_tools: [{ tool_call_id: "t1", title: "Build" }],
      }),
    ]);
    expect(t.stall?.idle_s).toBe(61);
    const note = t.rows.at(-1);
    expect(note?.type === "note" && [note.what, note.title, note.detail]).toEqual([
      "stalled",
      "No progress from the agent for 61 s",
      "Waiting on a permission request; running: Build.",
    ]);
    t.apply([ev("turn_resumed", { stalled_s: 3 })]);
    expect(t.stall).toBeNull();
    expect(t.rows.at(-1)?.type === "note").toBe(true);
    t.apply([ev("turn_stalled", { idle_s: 200, pending_permissions: [], running_tools: [] })]);
    expect(t.stall).not.toBeNull();
    t.apply([ev("status_changed", { status: "idle", previous: "running" })]);
    expect(t.stall).toBeNull();
  });

  it("tracks what the agent asks until it is answered, and says a stalled turn waits on it", () => {
    const t = new Timeline();
    t.apply([
      ev("elicitation_requested", {
        request_id: "e1",
        mode: "url",
        message: "Log in",
        requested_schema: null,
        url: "https://a.example/x",
        elicitation_id: "x",
        tool_call_id: null,
      }),
      ev("turn_stalled", {
        idle_s: 61,
        pending_permissions: [],
        pending_elicitations: ["e1"],
        running_tools: [],
      }),
    ]);
    expect([...t.asking.keys()]).toEqual(["e1"]);
    const note = t.rows.at(-1);
    expect(note?.type === "note" && note.detail).toBe("Waiting on your answer to a question.");
    const answered = { action: "accept", content: null, answered_by: "user", reason: "" };
    t.apply([
      ev("elicitation_answered", { request_id: "e1", ...answered }),
      ev("elicitation_completed", { elicitation_id: "x", request_id: "e1", known: true }),
      ev("elicitation_completed", { elicitation_id: "y", request_id: null, known: false }),
    ]);
    expect(t.asking.size).toBe(0);
    const card = t.rows.find((r) => r.key === "elicit:e1");
    expect(card?.type === "elicitation" && [card.answered?.action, card.completed?.known]).toEqual([
      "accept",
      true,
    ]);
  });

  it("skips the agent's echo of the prompt and marks a steered message", () => {
    const t = new Timeline();
    t.apply([
      ev("user_message", { text: "hi", source: "user" }),
      ev("user_message", { text: "hi", source: "agent" }),
      ev("user_message", { text: "go left", source: "user", steered: true }),
    ]);
    expect(t.rows.map((r) => r.type === "user" && [r.text, r.steered])).toEqual([
      ["hi", false],
      ["go left", true],
    ]);
  });

  it("does not show replayed history as new output", () => {
    const t = new Timeline();
    t.apply([
      ev("agent_message", { text: "old", replay: true }),
      ev("raw", { method: "session/update", update_kind: "tool_call", replay: true }),
      ev("agent_message", { text: "new" }),
    ]);
    expect(t.rows.map((r) => r.type === "agent" && r.text)).toEqual(["new"]);
  });

  it("warns when the agent will act without asking, and not when the policy holds", () => {
    const t = new Timeline();
    t.apply([ev("permission_mode", { mode_id: "default", can_ask: true, message: "" })]);
    expect(t.unguarded).toBeNull();
    expect(t.rows).toHaveLength(0);
    t.apply([ev("permission_mode", { mode_id: null, can_ask: false, message: "no asking mode" })]);
    expect(t.unguarded?.message).toBe("no asking mode");
    expect(t.rows.at(-1)?.type === "note" && t.rows.at(-1)).toMatchObject({
      what: "permission_mode",
      tone: "warn",
      detail: "no asking mode",
    });
  });

  it("shows notices as notes and a compaction as one divider, updated in place", () => {
    const t = new Timeline();
    t.apply([
      ev("notice", {
        severity: "warning",
        title: "Switched to a smaller model",
        description: null,
      }),
      ev("compaction", { compaction_id: "c1", status: "in_progress", summary: [], error: null }),
      ev("compaction", {
        compaction_id: "c1",
        status: "completed",
        summary: [{ type: "text", text: "we fixed the bug" }],
        error: null,
      }),
    ]);
    expect(t.rows.map((r) => r.type)).toEqual(["note", "compaction"]);
    expect(t.rows[0]).toMatchObject({ what: "notice", tone: "warn" });
    const divider = t.rows[1];
    expect(divider?.type === "compaction" && divider.event.status).toBe("completed");
  });

  it("groups a subagent's work into its card, and names it for its permission requests", () => {
    const t = new Timeline();
    const chunk = (text: string) =>
      ev("subagent_update", {
        subagent_session_id: "s2",
        update_kind: "agent_message_chunk",
        data: { content: { type: "text", text } },
      });
    t.apply([
      ev("subagent", {
        subagent_session_id: "s2",
        name: "explorer",
        task: "map it",
        state: "running",
      }),
      chunk("found "),
      ev("subagent_update", { subagent_session_id: "s2", update_kind: "tool_call", data: {} }),
      chunk("3 files"),
      ev("agent_message", { text: "parent speaks" }),
      ev("subagent", {
        subagent_session_id: "s2",
        name: "explorer",
        task: "map it",
        state: "completed",
      }),
    ]);
    expect(t.rows.map((r) => r.type)).toEqual(["subagent", "agent"]);
    const card = t.rows[0];
    expect(card?.type === "subagent" && card.subagent).toMatchObject({
      text: "found 3 files",
      updates: 3,
      event: { state: "completed", name: "explorer" },
    });
    expect(t.subagentName("s2")).toBe("explorer");
    expect(t.subagentName("s9")).toBe("s9");
  });

  it("folds 20,000 snapshots of 10,000 tool calls into 10,000 rows", () => {
    const t = new Timeline();
    const batch = [];
    for (let i = 0; i < 10_000; i += 1) {
      batch.push(toolCall(`c${i}`, "pending"), toolCall(`c${i}`, "completed"));
    }
    t.apply(batch);
    expect(t.events).toBe(20_000);
    expect(t.rows).toHaveLength(10_000);
  });
});
