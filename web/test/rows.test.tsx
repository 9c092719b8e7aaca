// Rows rendered into a real DOM (jsdom): the permission card shows what will happen and answers
// with the option's decision; an elicitation card fills a form (defaults first) or asks consent
// for a URL before it links it; a tool call shows its diff and its terminal's colours.
import { render } from "preact";
import { act } from "preact/test-utils";
import { beforeEach, describe, expect, it } from "vitest";

import { Timeline } from "../src/timeline";
import type {
  ElicitationRequestedEvent,
  PermissionOption,
  PermissionRequestedEvent,
} from "../src/types";
import { RowView } from "../src/views/rows";
import { ev, resetSeq, toolCall } from "./events";

beforeEach(resetSeq);

function mount(timeline: Timeline, answers: string[]): HTMLElement {
  const root = document.createElement("div");
  const context = {
    timeline,
    answer: (request: PermissionRequestedEvent, option: PermissionOption) => {
      answers.push(`${request.request_id}:${option.kind}`);
      return Promise.resolve();
    },
    answerElicitation: (request: ElicitationRequestedEvent, action: string, content?: object) => {
      answers.push(`${request.request_id}:${action}:${JSON.stringify(content ?? null)}`);
      return Promise.resolve();
    },
  };
  void act(() => {
    render(
      <>
        {timeline.rows.map((row) => (
          <RowView key={row.key} row={row} context={context} />
        ))}
      </>,
      root,
    );
  });
  return root;
}

describe("rows", () => {
  it("a permission card shows the diff and the agent's options, and answers with one", () => {
    const t = new Timeline();
    t.apply([
      toolCall("w", "pending", {
        locations: [{ path: "/ws/a.py" }],
        content: [{ type: "diff", path: "/ws/a.py", oldText: "x = 1\n", newText: "x = 2\n" }],
      }),
      ev("permission_requested", {
        request_id: "7",
        tool_call_id: "w",
        title: "Edit a.py",
        tool_call: {},
        options: [
          { optionId: "yes", name: "Allow once", kind: "allow_once" },
          { optionId: "no", name: "Reject", kind: "reject_once" },
        ],
      }),
    ]);
    const answers: string[] = [];
    const root = mount(t, answers);
    const card = root.querySelector('[data-testid="permission-card"]');
    expect(card?.getAttribute("data-state")).toBe("pending");
    expect(card?.querySelector('[data-testid="diff"]')?.getAttribute("data-path")).toBe("/ws/a.py");
    expect(card?.querySelector('[data-testid="diff-line-del"]')?.textContent).toContain("x = 1");
    expect(card?.querySelector('[data-testid="diff-line-add"] .hljs-number')?.textContent).toBe(
      "2",
    );
    const options = [
      ...(card?.querySelectorAll<HTMLButtonElement>('[data-testid="permission-option"]') ?? []),
    ];
    expect(options.map((b) => b.textContent)).toEqual(["Allow once", "Reject"]);
    void act(() => {
      options[1]?.click();
    });
    expect(answers).toEqual(["7:reject_once"]);
  });

  it("a permission card without an earlier tool call shows the command it was sent", () => {
    const t = new Timeline();
    t.apply([
      ev("permission_requested", {
        request_id: "8",
        tool_call_id: "run",
        title: "Run a command",
        tool_call: {
          toolCallId: "run",
          kind: "execute",
          rawInput: { command: "rm", args: ["-rf", "build"] },
        },
        options: [{ optionId: "ok", name: "Allow", kind: "allow_once" }],
      }),
    ]);
    const root = mount(t, []);
    expect(root.querySelector('[data-testid="tool-call-command"]')?.textContent).toBe(
      "$ rm -rf build",
    );
  });

  it("an elicitation card fills a form, its defaults first, and answers with its content", () => {
    const t = new Timeline();
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", title: "Your name" },
        level: { type: "string", enum: ["junior", "senior"], default: "senior" },
        years: { type: "integer" },
      },
      required: ["name"],
    };
    t.apply([
      ev("elicitation_requested", {
        request_id: "e1",
        mode: "form",
        message: "About you?",
        requested_schema: schema,
        url: null,
        elicitation_id: null,
        tool_call_id: null,
      }),
    ]);
    const answers: string[] = [];
    const root = mount(t, answers);
    const field = (name: string) =>
      root.querySelector<HTMLInputElement & HTMLSelectElement>(`[data-field="${name}"]`);
    expect(field("level")?.value).toBe("senior");
    expect(root.querySelector('label[for="elicit-field-name"]')?.textContent).toBe("Your name *");
    void act(() => {
      const name = field("name");
      const years = field("years");
      if (name && years) {
        name.value = "Ada";
        name.dispatchEvent(new Event("input"));
        years.value = "7";
        years.dispatchEvent(new Event("input"));
      }
    });
    void act(() => {
      root.querySelector<HTMLButtonElement>('[data-testid="elicitation-accept"]')?.click();
    });
    expect(answers).toEqual(['e1:accept:{"name":"Ada","level":"senior","years":7}']);
  });

  it("a URL is shown in full with its host, and linked only once consented to", () => {
    const t = new Timeline();
    const url = "http://xn--gthub-zsa.com/login?x=1";
    t.apply([
      ev("elicitation_requested", {
        request_id: "e2",
        mode: "url",
        message: "Log in",
        requested_schema: null,
        url,
        elicitation_id: "gh",
        tool_call_id: null,
      }),
    ]);
    const answers: string[] = [];
    let root = mount(t, answers);
    expect(root.querySelector('[data-testid="elicitation-url"]')?.textContent).toBe(url);
    expect(root.querySelector('[data-testid="elicitation-host"]')?.textContent).toBe(
      "xn--gthub-zsa.com",
    );
    expect(root.textContent).toContain("not HTTPS");
    expect(root.textContent).toContain("may imitate another");
    expect(root.querySelector('[data-testid="elicitation-open"]')).toBeNull();
    void act(() => {
      root.querySelector<HTMLButtonElement>('[data-testid="elicitation-accept"]')?.click();
    });
    expect(answers).toEqual(["e2:accept:null"]);
    t.apply([
      ev("elicitation_answered", {
        request_id: "e2",
        action: "accept",
        content: null,
        answered_by: "user",
        reason: "",
      }),
    ]);
    expect(t.asking.size).toBe(0);
    root = mount(t, answers);
    const link = root.querySelector<HTMLAnchorElement>('[data-testid="elicitation-open"]');
    expect(link?.getAttribute("href")).toBe(url);
    expect(link?.getAttribute("rel")).toBe("noopener noreferrer");
  });

  it("a command's terminal output keeps its colours", () => {
    const t = new Timeline();
    t.apply([
      toolCall("run", "failed", {
        tool_kind: "execute",
        content: [{ type: "terminal", terminalId: "t" }],
      }),
      ev("terminal", {
        terminal_id: "t",
        status: "released",
        command: "pytest",
        args: ["-q"],
        cwd: null,
        output: "\u001b[31m1 failed\u001b[0m",
        truncated: false,
        exit_code: 1,
        signal: null,
      }),
    ]);
    const root = mount(t, []);
    const red = root.querySelector('[data-testid="terminal-output"] .ansi-fg-1');
    expect(red?.textContent).toBe("1 failed");
    expect(root.querySelector('[data-testid="terminal"]')?.textContent).toContain("$ pytest -q");
  });

  it("shows a steered message, notes, a compaction divider, a subagent, and a tool's name", () => {
    const t = new Timeline();
    t.apply([
      ev("user_message", { text: "go left", steered: true }),
      ev("turn_stalled", { idle_s: 90, pending_permissions: [], running_tools: [] }),
      ev("compaction", {
        compaction_id: "c",
        status: "completed",
        summary: [{ type: "text", text: "**kept**" }],
        error: null,
      }),
      ev("subagent", { subagent_session_id: "s", name: "scout", task: "look", state: "running" }),
      toolCall("b", "in_progress", { title: "Run tests", name: "Bash" }),
    ]);
    const root = mount(t, []);
    const by = (id: string) => root.querySelector(`[data-testid=${id}]`);
    expect(by("user-message")?.getAttribute("data-steered")).toBe("true");
    expect(by("note-row")?.textContent).toContain("No progress from the agent for 90 s");
    expect(by("compaction-summary")?.innerHTML).toContain("<strong>kept</strong>");
    expect(by("subagent")?.textContent).toContain("Subagent scout");
    expect(by("tool-call-name")?.textContent).toBe("Bash");
  });
});
