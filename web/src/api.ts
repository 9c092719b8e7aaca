// The REST client: same origin, the session cookie authenticates, unsafe methods carry the CSRF
// token. The API key is sent once, in a POST body, and never stored by the console.

import type {
  AgentInfo,
  ConversationDetail,
  ConversationPage,
  CreateRequest,
  EventPage,
  JobDetail,
  JobSummary,
  JsonObject,
  SessionInfo,
  Status,
} from "./types";

/** An error the server (or the network) gave, with its stable code and what to do. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint = "",
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** An error as one line for the user: what happened, and what to do. */
export function describe(error: unknown): string {
  if (error instanceof ApiError)
    return error.hint ? `${error.message} (${error.hint})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

type Method = "GET" | "POST" | "DELETE";

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown; hint?: unknown };
    if (typeof body.code === "string" && typeof body.message === "string") {
      const hint = typeof body.hint === "string" ? body.hint : "";
      return new ApiError(response.status, body.code, body.message, hint);
    }
  } catch {
    // not the server's JSON error body (a proxy, an old server): fall through
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText);
}

const enc = encodeURIComponent;

export class Api {
  /** The CSRF token of the signed-in session (memory only). */
  csrf: string | null = null;
  /** Called when a request comes back 401: the session expired or was never made. */
  onUnauthorized: () => void = () => undefined;

  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && this.csrf !== null) headers["X-CSRF-Token"] = this.csrf;
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new ApiError(0, "network_error", `cannot reach the server (${why})`, "retry");
    }
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401 && !path.startsWith("/api/session")) this.onUnauthorized();
      throw error;
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** Whether a key is needed and whether the cookie already signs us in. */
  async session(): Promise<SessionInfo> {
    try {
      const info = await this.request<SessionInfo>("GET", "/api/session");
      this.csrf = info.csrf_token;
      return info;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        // a server without browser sessions: only a key-less (loopback) one can be used
        return { auth_required: false, signed_in: true, csrf_token: null };
      }
      throw error;
    }
  }

  async signIn(apiKey: string): Promise<void> {
    const body = await this.request<{ csrf_token: string }>("POST", "/api/session", {
      api_key: apiKey,
    });
    this.csrf = body.csrf_token;
  }

  async signOut(): Promise<void> {
    await this.request("DELETE", "/api/session");
    this.csrf = null;
  }

  agents(): Promise<AgentInfo[]> {
    return this.request("GET", "/api/agents");
  }

  conversations(filter: { status?: Status | ""; search?: string }): Promise<ConversationPage> {
    const query = new URLSearchParams({ limit: "200" });
    if (filter.status) query.set("status", filter.status);
    if (filter.search) query.set("search", filter.search);
    return this.request("GET", `/api/conversations?${query.toString()}`);
  }

  conversation(id: string): Promise<ConversationDetail> {
    return this.request("GET", `/api/conversations/${enc(id)}`);
  }

  /** Stored events after ``afterSeq``, up to 1,000 (the server's largest page). */
  events(id: string, afterSeq: number): Promise<EventPage> {
    return this.request(
      "GET",
      `/api/conversations/${enc(id)}/events?after_seq=${afterSeq}&limit=1000`,
    );
  }

  create(body: CreateRequest): Promise<ConversationDetail> {
    return this.request("POST", "/api/conversations", body);
  }

  remove(id: string): Promise<void> {
    return this.request("DELETE", `/api/conversations/${enc(id)}`);
  }

  send(id: string, text: string): Promise<unknown> {
    return this.request("POST", `/api/conversations/${enc(id)}/messages`, { text });
  }

  /** Say ``text`` inside the running turn (queued as the next turn where the agent cannot). */
  steer(id: string, text: string): Promise<{ steered: boolean }> {
    return this.request("POST", `/api/conversations/${enc(id)}/steer`, { text });
  }

  /** ``interrupt``, ``pause``, or ``run`` (which resumes a paused conversation). */
  control(id: string, action: "interrupt" | "pause" | "run"): Promise<unknown> {
    return this.request("POST", `/api/conversations/${enc(id)}/${action}`);
  }

  setMode(id: string, modeId: string): Promise<ConversationDetail> {
    return this.request("POST", `/api/conversations/${enc(id)}/mode`, { mode_id: modeId });
  }

  setOption(id: string, configId: string, value: string | boolean): Promise<ConversationDetail> {
    return this.request("POST", `/api/conversations/${enc(id)}/config`, {
      config_id: configId,
      value,
    });
  }

  /** Stored jobs, most recently updated first. */
  jobs(): Promise<JobSummary[]> {
    return this.request("GET", "/api/jobs");
  }

  job(id: string): Promise<JobDetail> {
    return this.request("GET", `/api/jobs/${enc(id)}`);
  }

  answer(id: string, requestId: string, decision: string): Promise<unknown> {
    return this.request("POST", `/api/conversations/${enc(id)}/permissions/${enc(requestId)}`, {
      decision,
    });
  }

  /** Answer what the agent asks: accept (a form's ``content``; a URL: consent), decline, cancel. */
  answerElicitation(
    id: string,
    requestId: string,
    action: "accept" | "decline" | "cancel",
    content?: JsonObject,
  ): Promise<unknown> {
    const path = `/api/conversations/${enc(id)}/elicitations/${enc(requestId)}`;
    return this.request("POST", path, content ? { action, content } : { action });
  }
}
