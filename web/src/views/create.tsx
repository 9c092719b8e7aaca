// Create a conversation: an agent from the server's registry (with its installed state), a
// workspace, a permission policy, optionally a mode, a model, a title and a first message.
//
// The API takes mode and model once the agent's session exists, so they are set right after
// creating the conversation and before its first message is sent.

import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

import { type Api, describe } from "../api";
import type { AgentInfo, CreateRequest } from "../types";

interface Props {
  api: Api;
  defaultWorkspace: string | null;
  onCreated: (id: string, warning: string | null) => void;
}

/** Create, set mode and model, then send the first message; a failure after creating is a warning. */
export async function createConversation(
  api: Api,
  body: CreateRequest,
): Promise<{ id: string; warning: string | null }> {
  const { mode, model, message, ...create } = body;
  const needsSetup = Boolean(mode || model);
  const detail = await api.create(needsSetup ? create : { ...create, message });
  if (!needsSetup) return { id: detail.id, warning: null };
  try {
    let current = detail;
    if (mode) current = await api.setMode(detail.id, mode);
    if (model) {
      if (!mode) current = await api.conversation(detail.id);
      const option = current.config_options.find((o) => o.category === "model");
      await api.setOption(detail.id, option?.id ?? "model", model);
    }
  } catch (e) {
    const unsent = message ? "; the first message was not sent" : "";
    return { id: detail.id, warning: `Created, but: ${describe(e)}${unsent}` };
  }
  if (message) await api.send(detail.id, message);
  return { id: detail.id, warning: null };
}

export function CreateForm(props: Props): JSX.Element {
  const { api } = props;
  const [agents, setAgents] = useState<AgentInfo[]>([]);
  const [agent, setAgent] = useState("");
  const [workspace, setWorkspace] = useState(props.defaultWorkspace ?? "");
  const [permission, setPermission] = useState<CreateRequest["permission"]>("ask");
  const [mode, setMode] = useState("");
  const [model, setModel] = useState("");
  const [title, setTitle] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.agents().then(
      (list) => {
        setAgents(list);
        const first = list.find((a) => a.installed) ?? list[0];
        setAgent((current) => current || (first?.name ?? ""));
      },
      (e: unknown) => {
        setError(describe(e));
      },
    );
  }, [api]);

  const chosen = agents.find((a) => a.name === agent);
  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const body: CreateRequest = { agent, workspace, permission };
      if (title.trim()) body.title = title.trim();
      if (message.trim()) body.message = message.trim();
      if (mode.trim()) body.mode = mode.trim();
      if (model.trim()) body.model = model.trim();
      const { id, warning } = await createConversation(api, body);
      props.onCreated(id, warning);
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="create"
      data-testid="create-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>New conversation</h2>
      <label>
        Agent
        <select
          data-testid="create-agent"
          value={agent}
          onChange={(e) => {
            setAgent(e.currentTarget.value);
          }}
        >
          {agents.map((a) => (
            <option key={a.name} value={a.name} data-installed={a.installed}>
              {a.title || a.name} ({a.name}){a.installed ? "" : " — not installed"}
            </option>
          ))}
        </select>
      </label>
      {chosen && !chosen.installed ? (
        <div class="hint warn" data-testid="create-agent-missing">
          Not installed on the server. Install: <code>{chosen.install}</code>
        </div>
      ) : null}
      {chosen?.credentials.length ? (
        <div class="hint muted">Reads its key from: {chosen.credentials.join(", ")}</div>
      ) : null}
      <label>
        Workspace (a directory on the server)
        <input
          data-testid="create-workspace"
          required
          value={workspace}
          onInput={(e) => {
            setWorkspace(e.currentTarget.value);
          }}
        />
      </label>
      <label>
        Permission requests
        <select
          data-testid="create-permission"
          value={permission}
          onChange={(e) => {
            setPermission(e.currentTarget.value as CreateRequest["permission"]);
          }}
        >
          <option value="ask">ask me (answer here)</option>
          <option value="allow">allow all</option>
          <option value="deny">deny all</option>
        </select>
      </label>
      <div class="two">
        <label>
          Mode (optional)
          <input
            data-testid="create-mode"
            placeholder="the agent's default"
            value={mode}
            onInput={(e) => {
              setMode(e.currentTarget.value);
            }}
          />
        </label>
        <label>
          Model (optional)
          <input
            data-testid="create-model"
            placeholder="the agent's default"
            value={model}
            onInput={(e) => {
              setModel(e.currentTarget.value);
            }}
          />
        </label>
      </div>
      <label>
        Title (optional)
        <input
          data-testid="create-title"
          value={title}
          onInput={(e) => {
            setTitle(e.currentTarget.value);
          }}
        />
      </label>
      <label>
        First message (optional)
        <textarea
          data-testid="create-message"
          rows={4}
          value={message}
          onInput={(e) => {
            setMessage(e.currentTarget.value);
          }}
        />
      </label>
      {error ? (
        <div class="error-text" data-testid="create-error" role="alert">
          {error}
        </div>
      ) : null}
      <button
        type="submit"
        class="primary"
        data-testid="create-submit"
        disabled={busy || !agent || !workspace}
      >
        {busy ? "Starting…" : "Start"}
      </button>
    </form>
  );
}
