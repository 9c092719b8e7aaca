// Sign in with the server's API key. The key goes once to POST /api/session (in the body, never
// a URL), which answers with an HttpOnly cookie; the console keeps nothing of the key.

import type { JSX } from "preact";
import { useState } from "preact/hooks";

import { type Api, describe } from "../api";

export function SignIn(props: { api: Api; onSignedIn: () => void; expired: boolean }): JSX.Element {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await props.api.signIn(key);
      setKey("");
      props.onSignedIn();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form
        data-testid="signin-form"
        autocomplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h1>acphost</h1>
        <p class="muted">
          {props.expired
            ? "Your session ended. Sign in again with the server's API key."
            : "This server needs its API key."}
        </p>
        {/* for password managers: the key belongs to this console */}
        <input type="text" autocomplete="username" value="acphost" hidden readOnly />
        <label>
          API key
          <input
            type="password"
            data-testid="signin-key"
            autocomplete="current-password"
            value={key}
            required
            onInput={(e) => {
              setKey(e.currentTarget.value);
            }}
          />
        </label>
        {error ? (
          <div class="error-text" data-testid="signin-error" role="alert">
            {error}
          </div>
        ) : null}
        <button type="submit" class="primary" data-testid="signin-submit" disabled={busy || !key}>
          Sign in
        </button>
      </form>
    </main>
  );
}
