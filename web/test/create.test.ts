// Creating with a mode and a model: the API takes them once the session exists, so the console
// creates without the message, sets mode then model, and sends the message last.
import { describe, expect, it } from "vitest";

import { Api, ApiError } from "../src/api";
import { createConversation } from "../src/views/create";

/** An Api whose requests are answered here, in order, and recorded. */
class ScriptedApi extends Api {
  calls: string[] = [];
  constructor(private readonly fail: string | null = null) {
    super();
  }
  override request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const call = `${method} ${path}${body === undefined ? "" : ` ${JSON.stringify(body)}`}`;
    this.calls.push(call);
    if (this.fail !== null && path.endsWith(this.fail)) {
      return Promise.reject(new ApiError(400, "unknown_mode", "no such mode", "its modes: a, b"));
    }
    const detail = {
      id: "c1",
      config_options: [{ id: "model-opt", category: "model" }],
      last_seq: 3,
    };
    return Promise.resolve(detail as T);
  }
}

describe("createConversation", () => {
  it("sends the first message with the create request when no mode or model is asked", async () => {
    const api = new ScriptedApi();
    await createConversation(api, {
      agent: "demo",
      workspace: "/w",
      permission: "ask",
      message: "hi",
    });
    expect(api.calls).toEqual([
      'POST /api/conversations {"agent":"demo","workspace":"/w","permission":"ask","message":"hi"}',
    ]);
  });

  it("sets the mode, then the model by its option id, then sends the message", async () => {
    const api = new ScriptedApi();
    const result = await createConversation(api, {
      agent: "demo",
      workspace: "/w",
      permission: "ask",
      message: "hi",
      mode: "code",
      model: "big",
    });
    expect(result).toEqual({ id: "c1", warning: null });
    expect(api.calls).toEqual([
      'POST /api/conversations {"agent":"demo","workspace":"/w","permission":"ask"}',
      'POST /api/conversations/c1/mode {"mode_id":"code"}',
      'POST /api/conversations/c1/config {"config_id":"model-opt","value":"big"}',
      'POST /api/conversations/c1/messages {"text":"hi"}',
    ]);
  });

  it("keeps the created conversation and warns when the mode is refused", async () => {
    const api = new ScriptedApi("/mode");
    const result = await createConversation(api, {
      agent: "demo",
      workspace: "/w",
      permission: "ask",
      message: "hi",
      mode: "nope",
    });
    expect(result.id).toBe("c1");
    expect(result.warning).toMatch(
      /no such mode \(its modes: a, b\); the first message was not sent/,
    );
    expect(api.calls.some((c) => c.includes("/messages"))).toBe(false);
  });
});
