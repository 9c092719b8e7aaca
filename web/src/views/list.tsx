// The conversations list: live (the change feed, see ../changes.ts; polled while the feed is
// down), searchable, filtered by status, with a badge on every conversation whose agent waits
// for a permission answer.

import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { type Api, describe } from "../api";
import { applyChange, ChangeFeed, matches } from "../changes";
import { type ChangeMessage, type ConversationSummary, STATUSES, type Status } from "../types";
import { money } from "./rows";

/** How often the list is re-read while the change feed is down. */
const POLL_MS = 2000;
/** How long a change that moved the page's total waits for others before the re-GET. */
const RELOAD_MS = 150;

function ago(ts: number, now: number): string {
  const s = Math.max(0, Math.round(now - ts));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(ts * 1000).toLocaleDateString();
}

interface Props {
  api: Api;
  selected: string | null;
  /** Pending counts the open conversation knows sooner than the next poll. */
  livePending: ReadonlyMap<string, number>;
  onRows: (rows: ConversationSummary[]) => void;
  /** Changes when the app knows the list changed (created, deleted): reload at once. */
  refresh: number;
}

export function ConversationList(props: Props): JSX.Element {
  const { api, onRows } = props;
  const [rows, setRows] = useState<ConversationSummary[] | null>(null);
  const [total, setTotal] = useState(0);
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState<Status | "">("");
  const [error, setError] = useState<string | null>(null);
  const [feedOpen, setFeedOpen] = useState(false);
  const listener = useRef<(change: ChangeMessage) => void>(() => undefined);
  const shownRows = useRef<ConversationSummary[] | null>(null); // what changes apply to

  useEffect(() => {
    const feed = new ChangeFeed({
      change: (change) => {
        listener.current(change);
      },
      connection: setFeedOpen,
    });
    feed.start();
    return () => {
      feed.stop();
    };
  }, []);

  // Runs again when the feed opens (connected first, now GET) or goes down (poll meanwhile).
  useEffect(() => {
    const filter = { status, search };
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // changes apply to the rows shown (within this filter) even before this GET answers
    let current = shownRows.current?.filter((row) => matches(row, filter)) ?? null;
    let loading = false;
    let again = false;
    let replay: ChangeMessage[] | null = null; // changes that arrived while a GET was out
    const show = (shown: ConversationSummary[]): void => {
      current = shownRows.current = shown;
      setRows(shown);
      onRows(shown);
    };
    const load = async (): Promise<void> => {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      replay = [];
      clearTimeout(timer);
      timer = undefined;
      try {
        const page = await api.conversations(filter);
        if (!alive) return;
        let got = page.conversations;
        for (const change of replay) got = applyChange(got, change, filter).rows;
        show(got);
        setTotal(page.total);
        setError(null);
      } catch (e) {
        if (alive) setError(describe(e));
      } finally {
        loading = false;
        replay = null;
      }
      if (!alive) return;
      if (again) {
        again = false;
        void load();
      } else if (!feedOpen) {
        timer = setTimeout(() => void load(), POLL_MS);
      }
    };
    listener.current = (change) => {
      replay?.push(change);
      if (current === null) return;
      const applied = applyChange(current, change, filter);
      show(applied.rows);
      if (applied.reload && timer === undefined) {
        // the total (and the page's end) moved: re-GET soon, once for a burst of changes
        timer = setTimeout(() => {
          timer = undefined;
          void load();
        }, RELOAD_MS);
      }
    };
    void load();
    return () => {
      alive = false;
      clearTimeout(timer);
      listener.current = () => undefined;
    };
  }, [api, status, search, onRows, props.refresh, feedOpen]);

  const now = Date.now() / 1000;
  return (
    <nav class="list" data-testid="conv-list" data-feed={feedOpen ? "open" : "down"}>
      <div class="list-tools">
        <a class="button primary" href="#/new" data-testid="new-conversation-button">
          + New conversation
        </a>
        <input
          type="search"
          placeholder="Search title or id"
          data-testid="conv-search"
          value={search}
          onInput={(e) => {
            setSearch(e.currentTarget.value);
          }}
        />
        <select
          data-testid="conv-filter-status"
          value={status}
          onChange={(e) => {
            setStatus(e.currentTarget.value as Status | "");
          }}
        >
          <option value="">any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {error ? (
        <div class="error-text" data-testid="list-error">
          {error}
        </div>
      ) : null}
      {rows === null ? <div class="muted pad">loading…</div> : null}
      {rows?.length === 0 ? (
        <div class="muted pad" data-testid="conv-list-empty">
          no conversations
        </div>
      ) : null}
      <ul class="rows">
        {rows?.map((c) => {
          const pending =
            props.livePending.get(c.id) ??
            (c.pending_permission_count ?? 0) + (c.pending_elicitation_count ?? 0);
          return (
            <li key={c.id}>
              <a
                href={`#/c/${encodeURIComponent(c.id)}`}
                class={`row ${props.selected === c.id ? "selected" : ""} ${pending ? "has-pending" : ""}`}
                data-testid="conv-row"
                data-conversation-id={c.id}
                data-status={c.status}
                data-pending={pending}
              >
                <div class="row-top">
                  <span class="row-title" data-testid="conv-row-title">
                    {c.title ?? c.id.slice(0, 12)}
                  </span>
                  {pending ? (
                    <span
                      class="badge"
                      data-testid="conv-row-pending"
                      title="waiting for your answer (a permission, a question)"
                    >
                      ⚠ {pending}
                    </span>
                  ) : null}
                </div>
                <div class="row-bottom muted">
                  <span class={`pill status-${c.status}`} data-testid="conv-row-status">
                    {c.status}
                  </span>
                  <span data-testid="conv-row-agent">{c.agent}</span>
                  <span data-testid="conv-row-cost">
                    {money(c.cost ?? null, c.currency ?? null)}
                  </span>
                  <span
                    class="ago"
                    data-testid="conv-row-activity"
                    title={new Date(c.updated_at * 1000).toISOString()}
                  >
                    {ago(c.updated_at, now)}
                  </span>
                </div>
              </a>
            </li>
          );
        })}
      </ul>
      {rows && total > rows.length ? (
        <div class="muted pad">{total - rows.length} more: narrow the search</div>
      ) : null}
    </nav>
  );
}
