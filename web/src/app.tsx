// The console's shell: sign-in when the server needs it, then the list beside the open
// conversation (or the create form, or the jobs). Routes live in the URL hash: #/, #/new,
// #/c/<id>, #/jobs, #/jobs/<id>.
// The page title counts the permission requests waiting, so a background tab shows them.

import type { JSX } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";

import { Api, describe } from "./api";
import type { ConversationSummary } from "./types";
import { ConversationView } from "./views/conversation";
import { CreateForm } from "./views/create";
import { JobsView } from "./views/jobs";
import { ConversationList } from "./views/list";
import { SignIn } from "./views/signin";

export type Route =
  | { page: "home" }
  | { page: "new" }
  | { page: "conversation"; id: string }
  | { page: "jobs"; id: string | null };

/** The route of a location hash (or a path, when the server's fallback served /c/<id>). */
export function parseRoute(hash: string, path = "/"): Route {
  const where = hash.replace(/^#/, "") || path;
  if (where === "/new") return { page: "new" };
  if (where === "/jobs") return { page: "jobs", id: null };
  const job = /^\/jobs\/(.+)$/.exec(where);
  if (job?.[1]) return { page: "jobs", id: decodeURIComponent(job[1]) };
  const match = /^\/c\/(.+)$/.exec(where);
  if (match?.[1]) return { page: "conversation", id: decodeURIComponent(match[1]) };
  return { page: "home" };
}

/** The page title: the number of permission requests and questions waiting comes first. */
export function pageTitle(pending: number): string {
  return pending > 0 ? `(${pending}) ⚠ answer needed · acphost` : "acphost console";
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash, location.pathname));
  useEffect(() => {
    const update = (): void => {
      setRoute(parseRoute(location.hash, location.pathname));
    };
    window.addEventListener("hashchange", update);
    return () => {
      window.removeEventListener("hashchange", update);
    };
  }, []);
  return route;
}

const RETRY_MS = 2000;

type Auth = "checking" | "signin" | "expired" | "ready" | "error";

export function App(): JSX.Element {
  const api = useMemo(() => new Api(), []);
  const route = useRoute();
  const [auth, setAuth] = useState<Auth>("checking");
  const [authRequired, setAuthRequired] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [workspace, setWorkspace] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);
  const [listPending, setListPending] = useState(new Map<string, number>());
  const [livePending, setLivePending] = useState(new Map<string, number>());

  const check = useCallback(async (): Promise<void> => {
    try {
      const info = await api.session();
      setAuthRequired(info.auth_required);
      setWorkspace(info.default_workspace ?? null);
      setAuth(info.signed_in ? "ready" : "signin");
    } catch (e) {
      setProblem(describe(e));
      setAuth("error");
    }
  }, [api]);

  useEffect(() => {
    api.onUnauthorized = () => {
      setAuth("expired");
    };
    void check();
  }, [api, check]);

  const onRows = useCallback((rows: ConversationSummary[]) => {
    setListPending(
      new Map(
        rows.map((r) => [
          r.id,
          (r.pending_permission_count ?? 0) + (r.pending_elicitation_count ?? 0),
        ]),
      ),
    );
  }, []);
  const onPending = useCallback((id: string, count: number) => {
    setLivePending((before) => {
      if ((before.get(id) ?? 0) === count && before.has(id) === count > 0) return before;
      const next = new Map(before);
      if (count > 0) next.set(id, count);
      else next.delete(id);
      return next;
    });
  }, []);

  const openId = route.page === "conversation" ? route.id : null;
  const pending = useMemo(() => {
    let sum = 0;
    for (const [id, count] of listPending) if (id !== openId) sum += count;
    if (openId !== null) sum += livePending.get(openId) ?? 0;
    return sum;
  }, [listPending, livePending, openId]);
  useEffect(() => {
    document.title = pageTitle(pending);
  }, [pending]);
  useEffect(() => {
    if (auth !== "error") return;
    const retry = setTimeout(() => void check(), RETRY_MS); // e.g. the server is restarting
    return () => {
      clearTimeout(retry);
    };
  }, [auth, check]);
  const onDeleted = useCallback(() => {
    setRefresh((n) => n + 1);
    location.hash = "#/";
  }, []);

  if (auth === "checking") return <main class="center muted">connecting…</main>;
  if (auth === "error") {
    return (
      <main class="center" data-testid="app-error">
        <p>Cannot reach the acphost server: {problem}. Retrying…</p>
        <button type="button" onClick={() => void check()}>
          Retry
        </button>
      </main>
    );
  }
  if (auth === "signin" || auth === "expired") {
    return <SignIn api={api} expired={auth === "expired"} onSignedIn={() => void check()} />;
  }
  return (
    <div class="app" data-testid="app">
      <aside class="side">
        <div class="brand">
          <a href="#/">acphost</a>
          <a href="#/jobs" class="nav" data-testid="jobs-link">
            Jobs
          </a>
          {pending > 0 ? (
            <span
              class="badge"
              data-testid="pending-total"
              title="permission requests and questions waiting for your answer"
            >
              ⚠ {pending}
            </span>
          ) : null}
          <span class="spacer" />
          {authRequired ? (
            <button
              type="button"
              class="link"
              data-testid="signout-button"
              onClick={() => {
                void api.signOut().finally(() => {
                  setAuth("signin");
                });
              }}
            >
              Sign out
            </button>
          ) : null}
        </div>
        <ConversationList
          api={api}
          selected={openId}
          livePending={livePending}
          onRows={onRows}
          refresh={refresh}
        />
      </aside>
      <main class="main">
        {notice ? (
          <div class="banner warn" data-testid="notice" role="status">
            {notice}{" "}
            <button
              type="button"
              class="link"
              onClick={() => {
                setNotice(null);
              }}
            >
              dismiss
            </button>
          </div>
        ) : null}
        {route.page === "new" ? (
          <CreateForm
            api={api}
            defaultWorkspace={workspace}
            onCreated={(id, warning) => {
              setNotice(warning);
              setRefresh((n) => n + 1);
              location.hash = `#/c/${encodeURIComponent(id)}`;
            }}
          />
        ) : route.page === "jobs" ? (
          <JobsView api={api} id={route.id} />
        ) : route.page === "conversation" ? (
          <ConversationView
            key={route.id}
            api={api}
            id={route.id}
            onPending={onPending}
            onDeleted={onDeleted}
          />
        ) : (
          <div class="empty muted" data-testid="home">
            Pick a conversation, or <a href="#/new">start a new one</a>.
          </div>
        )}
      </main>
    </div>
  );
}
