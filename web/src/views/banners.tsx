// Banners that tell the truth about the session: the connection is down, the agent was
// restarted without its context, the agent exited (with its stderr), the turn makes no progress
// (the host's turn_stalled), the agent will act without asking (permission_mode).
// The reader may dismiss a restart or an exit banner; a later one shows again.

import type { ComponentChildren, JSX } from "preact";
import { useState } from "preact/hooks";

import type { Connection } from "../stream";
import { stallText, type Timeline } from "../timeline";
import { Terminal } from "./toolcall";

function Dismissible(props: {
  kind: "warn" | "error";
  testid: string;
  onDismiss: () => void;
  children: ComponentChildren;
}): JSX.Element {
  return (
    <div class={`banner ${props.kind}`} data-testid={props.testid} role="alert">
      <button type="button" class="link dismiss" title="Dismiss" onClick={props.onDismiss}>
        dismiss
      </button>
      {props.children}
    </div>
  );
}

export function Banners(props: { timeline: Timeline; connection: Connection }): JSX.Element {
  const { timeline, connection } = props;
  const [dismissed, setDismissed] = useState<ReadonlySet<number>>(new Set());
  const dismiss = (seq: number) => () => {
    setDismissed((before) => new Set(before).add(seq));
  };
  const restarted =
    timeline.restarted && !dismissed.has(timeline.restarted.seq) ? timeline.restarted : null;
  const exited = timeline.exited && !dismissed.has(timeline.exited.seq) ? timeline.exited : null;
  const stall = timeline.stall ? stallText(timeline.stall) : null;
  return (
    <div class="banners">
      {connection === "reconnecting" || connection === "closed" ? (
        <div class="banner warn" data-testid="banner-connection" role="status">
          {connection === "closed"
            ? "Disconnected from the server. Reload the page to try again."
            : `Connection lost; reconnecting and resuming after event ${timeline.lastSeq}…`}
        </div>
      ) : null}
      {restarted ? (
        <Dismissible kind="warn" testid="banner-restarted" onDismiss={dismiss(restarted.seq)}>
          The agent's session was restarted and its earlier context was <strong>not</strong>{" "}
          restored: it does not remember this conversation before event {restarted.seq}.
          {restarted.reason ? ` (${restarted.reason})` : ""}
        </Dismissible>
      ) : null}
      {exited ? (
        <Dismissible kind="error" testid="banner-exited" onDismiss={dismiss(exited.seq)}>
          <div>
            The agent stopped: <strong>{exited.code}</strong> — {exited.message}
          </div>
          {exited.stderr_tail ? (
            <details open>
              <summary>its last stderr</summary>
              <Terminal output={exited.stderr_tail} testid="stderr-tail" />
            </details>
          ) : null}
        </Dismissible>
      ) : null}
      {stall ? (
        <div class="banner warn" data-testid="banner-stalled" role="status">
          {stall.title}. {stall.detail} It may be stuck: steer it with a message, or interrupt the
          turn to stop it.
        </div>
      ) : null}
      {timeline.unguarded ? (
        <div class="banner warn" data-testid="banner-permission-mode" role="status">
          The agent will act without asking for permission
          {timeline.unguarded.message ? `: ${timeline.unguarded.message}` : "."}
        </div>
      ) : null}
    </div>
  );
}
