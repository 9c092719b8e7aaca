// A tool call's card: kind, title, status, locations, and its content: diffs with syntax
// highlighting, terminals with their ANSI colours, text output.

import type { JSX } from "preact";
import { memo } from "preact/compat";
import { useEffect, useState } from "preact/hooks";

import { parseAnsi } from "../ansi";
import { diffLines, hunks } from "../diff";
import { highlight, languageOf } from "../highlight";
import type { JsonObject, TerminalEvent, ToolCallEvent } from "../types";

// symbols every common font has (no emoji font is assumed)
const KIND_ICONS: Record<string, string> = {
  read: "≡",
  edit: "✎",
  delete: "✕",
  move: "⇢",
  search: "⌕",
  execute: "▶",
  think: "∴",
  fetch: "⇣",
  switch_mode: "⇄",
  other: "•",
};

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * Whether a collapsible part is open: ``wanted`` until the reader toggles it (a closed part
 * renders no body, which keeps a long stream cheap). A new ``wanted`` applies again.
 */
export function useOpen(wanted: boolean): [boolean, (open: boolean) => void] {
  const [open, setOpen] = useState(wanted);
  useEffect(() => {
    setOpen(wanted);
  }, [wanted]);
  return [open, setOpen];
}

export function Terminal(props: { output: string; testid?: string }): JSX.Element {
  return (
    <pre class="terminal" data-testid={props.testid ?? "terminal-output"}>
      {parseAnsi(props.output).map((segment, at) => (
        <span
          key={at}
          class={segment.classes.join(" ")}
          style={{ color: segment.fg, backgroundColor: segment.bg }}
        >
          {segment.text}
        </span>
      ))}
    </pre>
  );
}

export const Diff = memo(function Diff(props: {
  path: string;
  oldText: string | null;
  newText: string;
}): JSX.Element {
  const language = languageOf(props.path);
  const groups = hunks(diffLines(props.oldText, props.newText));
  const added = groups.flatMap((h) => h.lines).filter((l) => l.op === "+").length;
  const removed = groups.flatMap((h) => h.lines).filter((l) => l.op === "-").length;
  return (
    <div class="diff" data-testid="diff" data-path={props.path}>
      <div class="diff-head">
        <span class="diff-path">{props.path}</span>
        {props.oldText === null ? <span class="diff-new">new file</span> : null}
        <span class="diff-stat">
          <span class="add">+{added}</span> <span class="del">−{removed}</span>
        </span>
      </div>
      {groups.length === 0 ? <div class="diff-empty">no changes</div> : null}
      {groups.map((hunk) => (
        <table class="diff-hunk" key={`${hunk.oldStart}:${hunk.newStart}`}>
          <tbody>
            {hunk.lines.map((line, at) => (
              <tr
                key={at}
                class={`diff-line op-${line.op === "+" ? "add" : line.op === "-" ? "del" : "ctx"}`}
                data-testid={
                  line.op === "+" ? "diff-line-add" : line.op === "-" ? "diff-line-del" : undefined
                }
              >
                <td class="ln">{line.oldNo ?? ""}</td>
                <td class="ln">{line.newNo ?? ""}</td>
                <td class="sign">{line.op}</td>
                <td
                  class="code hljs"
                  dangerouslySetInnerHTML={{ __html: highlight(line.text, language) || " " }}
                />
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </div>
  );
});

function Block(props: {
  block: JsonObject;
  terminals: ReadonlyMap<string, TerminalEvent>;
}): JSX.Element | null {
  const { block } = props;
  if (block.type === "diff") {
    const oldText = str(block.oldText);
    return (
      <Diff path={str(block.path) ?? "?"} oldText={oldText} newText={str(block.newText) ?? ""} />
    );
  }
  if (block.type === "terminal") {
    const terminal = props.terminals.get(str(block.terminalId) ?? "");
    if (!terminal) return <div class="muted">terminal starting…</div>;
    return <TerminalView terminal={terminal} />;
  }
  const inner = block.type === "content" ? (block.content as JsonObject | undefined) : block;
  const text = inner ? str(inner.text) : null;
  if (text !== null) return <Terminal output={text} testid="tool-output" />;
  return <pre class="tool-raw">{JSON.stringify(block, null, 2)}</pre>;
}

function TerminalView(props: { terminal: TerminalEvent }): JSX.Element {
  const t = props.terminal;
  const ended = t.exit_code !== null || t.signal !== null;
  return (
    <div class="terminal-box" data-testid="terminal" data-terminal-id={t.terminal_id}>
      <div class="terminal-head">
        <code>$ {[t.command, ...t.args].join(" ")}</code>
        {ended ? (
          <span class={t.exit_code === 0 ? "ok" : "bad"}>
            {t.signal ? `killed by ${t.signal}` : `exit ${t.exit_code ?? "?"}`}
          </span>
        ) : (
          <span class="muted">{t.status}</span>
        )}
      </div>
      {t.output ? <Terminal output={t.output} /> : null}
      {t.truncated ? <div class="muted">output truncated</div> : null}
    </div>
  );
}

/** The command an execute tool call runs, from its raw input (agents put it in various keys). */
export function commandOf(call: ToolCallEvent): string | null {
  const input = call.raw_input;
  if (typeof input === "string") return input;
  if (input === null || typeof input !== "object" || Array.isArray(input)) return null;
  const command = input.command ?? input.cmd;
  if (Array.isArray(command)) return command.map(String).join(" ");
  if (typeof command !== "string") return null;
  const args = Array.isArray(input.args) ? input.args.map(String) : [];
  return [command, ...args].join(" ");
}

export function Locations(props: { call: ToolCallEvent }): JSX.Element | null {
  const paths = props.call.locations
    .map((l) => {
      const path = str(l.path);
      if (path === null) return null;
      return typeof l.line === "number" ? `${path}:${l.line}` : path;
    })
    .filter((p): p is string => p !== null);
  if (paths.length === 0) return null;
  return (
    <ul class="locations" data-testid="tool-call-locations">
      {paths.map((p) => (
        <li key={p}>
          <code>{p}</code>
        </li>
      ))}
    </ul>
  );
}

export function ToolCallBody(props: {
  call: ToolCallEvent;
  terminals: ReadonlyMap<string, TerminalEvent>;
}): JSX.Element {
  const { call } = props;
  const command = call.tool_kind === "execute" ? commandOf(call) : null;
  const hasTerminal = call.content.some((b) => b.type === "terminal");
  return (
    <div class="tool-body">
      <Locations call={call} />
      {command !== null && !hasTerminal ? (
        <pre class="command" data-testid="tool-call-command">
          $ {command}
        </pre>
      ) : null}
      {call.content.map((block, at) => (
        <Block key={at} block={block} terminals={props.terminals} />
      ))}
    </div>
  );
}

export const ToolCallCard = memo(function ToolCallCard(props: {
  call: ToolCallEvent;
  terminals: ReadonlyMap<string, TerminalEvent>;
  /** Changes when one of its terminals has new output. */
  rev: number;
}): JSX.Element {
  const { call } = props;
  const kind = call.tool_kind ?? "other";
  const [open, setOpen] = useOpen(
    // what is under way, what failed and what edits files starts open
    call.status !== "completed" || call.content.some((b) => b.type === "diff"),
  );
  return (
    <details
      class={`card tool status-${call.status}`}
      open={open}
      onToggle={(e) => {
        setOpen(e.currentTarget.open);
      }}
      data-testid="tool-call"
      data-tool-call-id={call.tool_call_id}
      data-status={call.status}
    >
      <summary>
        <span class="tool-kind" data-testid="tool-call-kind" title={kind}>
          {KIND_ICONS[kind] ?? "•"} {kind}
        </span>
        <span class="tool-title" data-testid="tool-call-title">
          {call.title || call.tool_call_id}
        </span>
        <span class={`pill status-${call.status}`} data-testid="tool-call-status">
          {call.status.replace("_", " ")}
        </span>
      </summary>
      {open ? <ToolCallBody call={call} terminals={props.terminals} /> : null}
    </details>
  );
});
