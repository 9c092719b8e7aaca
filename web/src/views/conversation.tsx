// One conversation, live: its stream of rows (virtualised), the facts in its header (status,
// mode, model, usage meter), banners that tell the truth about the session, the plan, the
// permission requests waiting for an answer, and the composer.

import type { JSX } from "preact";
import { memo } from "preact/compat";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

import { type Api, ApiError, describe } from "../api";
import { type Connection, EventStream } from "../stream";
import { type Row, Timeline } from "../timeline";
import type { ConversationDetail, PermissionOption, PermissionRequestedEvent } from "../types";
import { VirtualList } from "../virtual";
import { Banners } from "./banners";
import { Controls, Meter, PlanPanel } from "./header";
import { type RowContext, RowView } from "./rows";

const ESTIMATES: Record<Row["type"], number> = {
  user: 60,
  agent: 80,
  thought: 36,
  tool: 160,
  permission: 160,
  elicitation: 200,
  turn: 28,
  error: 60,
  session: 36,
  note: 36,
  compaction: 60,
  subagent: 80,
};
const keyOf = (row: Row): string => row.key;
const estimate = (row: Row): number =>
  row.type === "tool" &&
  row.call.status === "completed" &&
  !row.call.content.some((b) => b.type === "diff")
    ? 40 // completed cards start collapsed
    : ESTIMATES[row.type];
const LOADING_RENDER_MS = 500;
const MIN_RENDER_MS = 50;

interface Props {
  api: Api;
  id: string;
  /** Tells the app how many permission requests and questions wait here (the title, list). */
  onPending: (id: string, count: number) => void;
  onDeleted: () => void;
}

/** Memoised: the app re-renders with every list poll, the conversation need not. */
export const ConversationView = memo(function ConversationView(props: Props): JSX.Element {
  const { api, id, onPending } = props;
  const timeline = useMemo(() => new Timeline(), [id]);
  const [, setVersion] = useState(0);
  const [connection, setConnection] = useState<Connection>("connecting");
  const [detail, setDetail] = useState<ConversationDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [target, setTarget] = useState<{ key: string } | null>(null);
  const [loading, setLoading] = useState(false);
  const lastLoadingRender = useRef(0);
  // At most one render per frame, and at most every MIN_RENDER_MS: a storm of events then
  // costs a few renders a second (the browser shares the machine with the agents).
  const frame = useRef<ReturnType<typeof setTimeout> | null>(null);
  const lastRender = useRef(0);
  const bump = useCallback(() => {
    frame.current ??= setTimeout(
      () => {
        requestAnimationFrame(() => {
          frame.current = null;
          lastRender.current = performance.now();
          setVersion((v) => v + 1);
        });
      },
      Math.max(0, lastRender.current + MIN_RENDER_MS - performance.now()),
    );
  }, []);

  useEffect(() => {
    let alive = true;
    api.conversation(id).then(
      (d) => {
        if (alive) setDetail(d);
      },
      (e: unknown) => {
        if (!alive) return;
        if (e instanceof ApiError && e.status === 404) setDeleted(true);
        else setError(describe(e));
      },
    );
    const s = new EventStream(id, {
      page: (afterSeq) => api.events(id, afterSeq),
      events(batch, more) {
        const first = timeline.events === 0;
        timeline.apply(batch);
        // now, not at the next frame: a hidden tab has none
        onPending(id, timeline.pending.size + timeline.asking.size);
        setLoading(more);
        // while the backlog loads, render its first screen, then now and then
        const now = performance.now();
        if (!more || first || now - lastLoadingRender.current > LOADING_RENDER_MS) {
          lastLoadingRender.current = now;
          bump();
        }
      },
      token(text, thought) {
        timeline.token(text, thought);
        bump();
      },
      connection(state) {
        setConnection(state);
        if (state === "deleted") setDeleted(true);
      },
      async failed() {
        // keep trying through a server restart; stop if the conversation or session is gone
        try {
          await api.conversation(id);
          return true;
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) setDeleted(true);
          return !(e instanceof ApiError) || e.status === 0 || e.status >= 500;
        }
      },
    });
    s.start();
    return () => {
      alive = false;
      if (frame.current !== null) clearTimeout(frame.current);
      s.stop();
      onPending(id, 0);
    };
  }, [api, id, timeline, bump, onPending]);

  const pending = timeline.pending.size;

  const act = useCallback(async (action: () => Promise<unknown>): Promise<boolean> => {
    setError(null);
    try {
      const result = await action();
      if (result && typeof result === "object" && "last_seq" in result) {
        setDetail(result as ConversationDetail);
      }
      return true;
    } catch (e) {
      setError(describe(e));
      return false;
    }
  }, []);

  const context: RowContext = useMemo(
    () => ({
      timeline,
      answer: async (request: PermissionRequestedEvent, option: PermissionOption) => {
        await api.answer(id, request.request_id, option.kind);
      },
      answerElicitation: async (request, action, content) => {
        await api.answerElicitation(id, request.request_id, action, content);
      },
    }),
    [api, id, timeline],
  );
  const render = useCallback((row: Row) => <RowView row={row} context={context} />, [context]);

  if (deleted) {
    return (
      <section class="conversation gone" data-testid="conversation-deleted">
        <p>This conversation was deleted.</p>
        <button type="button" onClick={props.onDeleted}>
          Back to the list
        </button>
      </section>
    );
  }
  const title = timeline.title ?? detail?.title ?? id;
  const status = timeline.lastSeq > 0 ? timeline.status : (detail?.status ?? "idle");
  const firstPending = timeline.pending.values().next();
  const firstAsked = timeline.asking.values().next();
  return (
    <section
      class="conversation"
      data-testid="conversation-view"
      data-conversation-id={id}
      data-last-seq={timeline.lastSeq}
      data-event-count={timeline.events}
      data-status={status}
      data-connection={connection}
    >
      <header class="conv-header">
        <div class="conv-heading">
          <h2 data-testid="conv-title">{title}</h2>
          <span class={`pill status-${status}`} data-testid="conv-status">
            {status}
          </span>
          {loading ? (
            <span class="muted" data-testid="conv-loading">
              loading history… {timeline.events.toLocaleString()} events
            </span>
          ) : null}
          <span
            class={`conn conn-${connection}`}
            data-testid="conv-connection"
            data-state={connection}
          >
            {connection === "open" ? "● live" : connection}
          </span>
        </div>
        <div class="conv-sub muted">
          {detail
            ? `${detail.agent} · ${detail.workspace} · permissions: ${detail.permission}`
            : ""}
        </div>
        <Controls
          api={api}
          id={id}
          timeline={timeline}
          detail={detail}
          status={status}
          act={act}
          onDeleted={props.onDeleted}
        />
        <Meter timeline={timeline} detail={detail} />
      </header>
      {error ? (
        <div class="banner error" data-testid="action-error" role="alert">
          {error}
        </div>
      ) : null}
      <Banners timeline={timeline} connection={connection} />
      {pending > 0 && !firstPending.done ? (
        <button
          type="button"
          class="permission-alert"
          data-testid="permission-alert"
          onClick={() => {
            setTarget({ key: `perm:${firstPending.value.request_id}` });
          }}
        >
          ⚠ {pending === 1 ? "A permission request is" : `${pending} permission requests are`}{" "}
          waiting for your answer: {firstPending.value.title || "a tool call"} — show
        </button>
      ) : null}
      {timeline.asking.size > 0 && !firstAsked.done ? (
        <button
          type="button"
          class="permission-alert"
          data-testid="elicitation-alert"
          onClick={() => {
            setTarget({ key: `elicit:${firstAsked.value.request_id}` });
          }}
        >
          ? The agent asks you something: {firstAsked.value.message || "a question"} — show
        </button>
      ) : null}
      <VirtualList
        items={timeline.rows}
        keyOf={keyOf}
        estimate={estimate}
        render={render}
        scrollTo={target}
        testid="timeline"
        class="timeline"
      />
      <PlanPanel plan={timeline.plan} />
      <Composer
        running={status === "running"}
        onSend={(text, steer) => act(() => (steer ? api.steer(id, text) : api.send(id, text)))}
      />
    </section>
  );
});

/** The follow-up message: sent as the next turn, or (while a turn runs) steered into it. */
function Composer(props: {
  running: boolean;
  onSend: (text: string, steer: boolean) => Promise<boolean>;
}): JSX.Element {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const send = async (steer = false): Promise<void> => {
    const message = text.trim();
    if (!message || busy) return;
    setBusy(true);
    const sent = await props.onSend(message, steer);
    setBusy(false);
    if (sent) setText(""); // a message that failed to send stays for another try
  };
  return (
    <form
      class="composer"
      data-testid="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <textarea
        data-testid="composer-input"
        placeholder={
          props.running
            ? "Steer the running turn, or queue a message (Ctrl+Enter sends)"
            : "Send a message (Ctrl+Enter)"
        }
        value={text}
        rows={2}
        onInput={(e) => {
          setText(e.currentTarget.value);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          }
        }}
      />
      {props.running ? (
        <button
          type="button"
          data-testid="composer-steer"
          title="Say it to the agent now, inside the running turn"
          disabled={busy || !text.trim()}
          onClick={() => void send(true)}
        >
          Steer
        </button>
      ) : null}
      <button type="submit" data-testid="composer-send" disabled={busy || !text.trim()}>
        Send
      </button>
    </form>
  );
}
