// Banners that tell the truth about the session: the connection is down, the agent was
// restarted without its context, the agent exited (with its stderr), the turn makes no progress.

import type { JSX } from "preact";

import type { Connection } from "../stream";
import { STALL_SECONDS, type Timeline } from "../timeline";

export function Banners(props: { timeline: Timeline; connection: Connection }): JSX.Element {
  const { timeline, connection } = props;
  const restarted = timeline.restarted;
  const exited = timeline.exited;
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
        <div class="banner warn" data-testid="banner-restarted" role="alert">
          The agent's session was restarted and its earlier context was <strong>not</strong>{" "}
          restored: it does not remember this conversation before event {restarted.seq}.
          {restarted.reason ? ` (${restarted.reason})` : ""}
        </div>
      ) : null}
      {exited ? (
        <div class="banner error" data-testid="banner-exited" role="alert">
          <div>
            The agent stopped: <strong>{exited.code}</strong> — {exited.message}
          </div>
          {exited.stderr_tail ? (
            <details open>
              <summary>its last stderr</summary>
              <pre data-testid="stderr-tail">{exited.stderr_tail}</pre>
            </details>
          ) : null}
        </div>
      ) : null}
      {timeline.stalled() ? (
        <div class="banner warn" data-testid="banner-stalled" role="status">
          No progress from the agent for over {Math.round(STALL_SECONDS / 60)} minutes. It may be
          stuck: interrupt the turn to stop it.
        </div>
      ) : null}
    </div>
  );
}
