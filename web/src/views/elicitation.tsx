// The card of an elicitation (the agent asks the user something): a form with an input per
// field (its default filled in) and Accept / Decline / Cancel, or a URL shown in full with its
// host highlighted and consent asked first. The console never opens or fetches the URL: once
// the user consented, an "Open" link (a new tab, no referrer, no opener) lets them go there.

import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type {
  ElicitationAnsweredEvent,
  ElicitationCompletedEvent,
  ElicitationRequestedEvent,
  Json,
  JsonObject,
} from "../types";

export type ElicitationAction = "accept" | "decline" | "cancel";

/** Sends the user's answer (rejects with the server's message, e.g. a field that does not fit). */
export type AnswerElicitation = (
  request: ElicitationRequestedEvent,
  action: ElicitationAction,
  content?: JsonObject,
) => Promise<void>;

interface Field {
  name: string;
  schema: JsonObject;
  required: boolean;
}

function fieldsOf(schema: JsonObject | null): Field[] {
  const properties = schema?.properties;
  const required = Array.isArray(schema?.required) ? schema.required : [];
  if (!properties || typeof properties !== "object" || Array.isArray(properties)) return [];
  return Object.entries(properties).flatMap(([name, prop]) =>
    prop && typeof prop === "object" && !Array.isArray(prop)
      ? [{ name, schema: prop, required: required.includes(name) }]
      : [],
  );
}

/** The values a field (or a multi-select field's items) may take, if it is a choice. */
function choicesOf(schema: JsonObject): string[] | null {
  const items = schema.items;
  const source =
    schema.type === "array" && items && typeof items === "object" && !Array.isArray(items)
      ? items
      : schema;
  if (Array.isArray(source.enum)) return source.enum.map(String);
  const titled = source.oneOf ?? source.anyOf;
  if (Array.isArray(titled)) {
    return titled.flatMap((o) =>
      o && typeof o === "object" && !Array.isArray(o) ? [plain(o.const)] : [],
    );
  }
  return null;
}

/** A JSON value as text (a string as is). */
function plain(value: Json | undefined): string {
  return typeof value === "string" ? value : JSON.stringify(value ?? null);
}

/** The form's values as typed so far: every field starts at its default. */
type Values = Record<string, Json | undefined>;

function initialValues(fields: Field[]): Values {
  return Object.fromEntries(fields.map((f) => [f.name, f.schema.default ?? undefined]));
}

/** What to send: empty fields left out, numbers as numbers. */
function contentOf(fields: Field[], values: Values): JsonObject {
  const content: JsonObject = {};
  for (const { name, schema } of fields) {
    const value = values[name];
    if (value === undefined || value === null || value === "") continue;
    if ((schema.type === "number" || schema.type === "integer") && typeof value === "string") {
      content[name] = Number(value);
    } else {
      content[name] = value;
    }
  }
  return content;
}

function FieldInput(props: {
  field: Field;
  value: Json | undefined;
  onChange: (value: Json | undefined) => void;
}): JSX.Element {
  const { field, value, onChange } = props;
  const { schema, name } = field;
  const choices = choicesOf(schema);
  const id = `elicit-field-${name}`;
  const common = { id, name, "data-testid": "elicitation-field", "data-field": name };
  if (schema.type === "boolean") {
    return (
      <input
        {...common}
        type="checkbox"
        checked={value === true}
        onChange={(e) => {
          onChange(e.currentTarget.checked);
        }}
      />
    );
  }
  if (schema.type === "array" && choices) {
    const chosen = Array.isArray(value) ? value.map(String) : [];
    return (
      <span {...common} class="elicitation-choices">
        {choices.map((choice) => (
          <label key={choice}>
            <input
              type="checkbox"
              value={choice}
              checked={chosen.includes(choice)}
              onChange={(e) => {
                const next = e.currentTarget.checked
                  ? [...chosen, choice]
                  : chosen.filter((c) => c !== choice);
                onChange(next);
              }}
            />{" "}
            {choice}
          </label>
        ))}
      </span>
    );
  }
  if (choices) {
    return (
      <select
        {...common}
        value={typeof value === "string" ? value : ""}
        onChange={(e) => {
          onChange(e.currentTarget.value || undefined);
        }}
      >
        <option value="">—</option>
        {choices.map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
    );
  }
  const numeric = schema.type === "number" || schema.type === "integer";
  const format = typeof schema.format === "string" ? schema.format : "";
  const kind = numeric
    ? "number"
    : format === "email"
      ? "email"
      : format === "date"
        ? "date"
        : "text";
  return (
    <input
      {...common}
      type={kind}
      step={schema.type === "integer" ? 1 : numeric ? "any" : undefined}
      value={value === undefined || value === null ? "" : plain(value)}
      onInput={(e) => {
        onChange(e.currentTarget.value);
      }}
    />
  );
}

/** The URL with its host marked (where the user would be sent is what matters). */
function ShownUrl(props: { url: string }): JSX.Element {
  let host = "";
  try {
    host = new URL(props.url).hostname;
  } catch {
    host = "";
  }
  const at = host ? props.url.indexOf(host) : -1;
  return (
    <code class="elicitation-url" data-testid="elicitation-url">
      {at < 0 ? (
        props.url
      ) : (
        <>
          {props.url.slice(0, at)}
          <mark data-testid="elicitation-host">{host}</mark>
          {props.url.slice(at + host.length)}
        </>
      )}
    </code>
  );
}

/** What is suspicious about a URL: not HTTPS, a look-alike host, credentials before the host. */
export function urlWarnings(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return ["this is not a valid URL"];
  }
  const warnings: string[] = [];
  if (parsed.protocol !== "https:") warnings.push(`not HTTPS (${parsed.protocol})`);
  if (parsed.hostname.includes("xn--")) {
    warnings.push(`the host ${parsed.hostname} may imitate another (Punycode)`);
  }
  if (parsed.username || parsed.password) {
    warnings.push("it has a user name before the host: the host is what follows '@'");
  }
  return warnings;
}

function answerText(answered: ElicitationAnsweredEvent): string {
  const what = { accept: "Accepted", decline: "Declined", cancel: "Cancelled" }[answered.action];
  const by = answered.answered_by === "cancel" ? "with the turn" : `by ${answered.answered_by}`;
  return `${what} (${by}${answered.reason ? `: ${answered.reason}` : ""})`;
}

export function ElicitationCard(props: {
  request: ElicitationRequestedEvent;
  answered: ElicitationAnsweredEvent | null;
  completed: ElicitationCompletedEvent | null;
  answer: AnswerElicitation;
}): JSX.Element {
  const { request, answered, completed } = props;
  const fields = fieldsOf(request.requested_schema);
  const [values, setValues] = useState<Values>(() => initialValues(fields));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isUrl = request.mode === "url";
  const send = (action: ElicitationAction): void => {
    setBusy(true);
    setError(null);
    const content = action === "accept" && !isUrl ? contentOf(fields, values) : undefined;
    props.answer(request, action, content).then(
      () => {
        setBusy(false);
      },
      (e: unknown) => {
        setBusy(false);
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  };
  const state = answered ? "answered" : "pending";
  return (
    <div
      class={`card elicitation ${state}`}
      data-testid="elicitation-card"
      data-request-id={request.request_id}
      data-mode={request.mode}
      data-state={state}
      role={answered ? undefined : "alert"}
    >
      <div class="elicitation-head">
        <span class="permission-icon">{answered ? "✓" : "?"}</span>
        <strong>{isUrl ? "The agent asks you to open a URL" : "The agent asks you"}:</strong>{" "}
        <span data-testid="elicitation-message">{request.message}</span>
      </div>
      {isUrl && request.url ? (
        <div class="elicitation-body">
          <ShownUrl url={request.url} />
          {urlWarnings(request.url).map((w) => (
            <div class="elicitation-warning" key={w}>
              ⚠ {w}
            </div>
          ))}
          {answered?.action === "accept" ? (
            <a
              href={request.url}
              target="_blank"
              rel="noopener noreferrer"
              data-testid="elicitation-open"
            >
              Open
            </a>
          ) : null}
          {completed ? <div class="muted">✓ The agent says it is done there.</div> : null}
        </div>
      ) : null}
      {!isUrl && !answered ? (
        <div class="elicitation-body">
          {fields.map((field) => (
            <div class="elicitation-field" key={field.name}>
              <label for={`elicit-field-${field.name}`}>
                {typeof field.schema.title === "string" ? field.schema.title : field.name}
                {field.required ? " *" : ""}
              </label>
              <FieldInput
                field={field}
                value={values[field.name]}
                onChange={(value) => {
                  setValues((before) => ({ ...before, [field.name]: value }));
                }}
              />
              {typeof field.schema.description === "string" ? (
                <span class="muted">{field.schema.description}</span>
              ) : null}
            </div>
          ))}
        </div>
      ) : null}
      {answered ? (
        <div
          class="elicitation-answer"
          data-testid="elicitation-answer"
          data-action={answered.action}
        >
          {answerText(answered)}
          {answered.content ? (
            <span class="muted"> — {Object.keys(answered.content).join(", ")}</span>
          ) : null}
        </div>
      ) : (
        <div class="permission-options">
          <button
            type="button"
            class="option allow"
            data-testid="elicitation-accept"
            disabled={busy}
            onClick={() => {
              send("accept");
            }}
          >
            {isUrl ? "Consent" : "Accept"}
          </button>
          <button
            type="button"
            class="option reject"
            data-testid="elicitation-decline"
            disabled={busy}
            onClick={() => {
              send("decline");
            }}
          >
            Decline
          </button>
          <button
            type="button"
            class="option"
            data-testid="elicitation-cancel"
            disabled={busy}
            onClick={() => {
              send("cancel");
            }}
          >
            Cancel
          </button>
        </div>
      )}
      {error ? (
        <div class="error-text" data-testid="elicitation-error">
          {error}
        </div>
      ) : null}
    </div>
  );
}
