// Rows rendered into a real DOM (jsdom): the permission card shows what will happen and answers
// with the option's decision; a tool call shows its diff and its terminal's colours.
import { render } from "preact";
import { act } from "preact/test-utils";
import { beforeEach, describe, expect, it } from "vitest";

import { Timeline } from "../src/timeline";
import type { PermissionOption, PermissionRequestedEvent } from "../src/types";
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
});
