import { describe, expect, it } from "vitest";

import { parseAnsi } from "../src/ansi";

describe("parseAnsi", () => {
  it("colours text and resets", () => {
    const segments = parseAnsi("\u001b[1;31mfail\u001b[0m ok");
    expect(segments).toEqual([
      { text: "fail", classes: ["ansi-bold", "ansi-fg-1"] },
      { text: " ok", classes: [] },
    ]);
  });

  it("handles bright, background, 256 and true colours", () => {
    const [bright, cube, rgb] = parseAnsi(
      "\u001b[92;44mA\u001b[0m\u001b[38;5;196mB\u001b[0m\u001b[48;2;1;2;3mC",
    );
    expect(bright?.classes).toEqual(["ansi-fg-10", "ansi-bg-4"]);
    expect(cube?.fg).toBe("rgb(255,0,0)");
    expect(rgb?.bg).toBe("rgb(1,2,3)");
  });

  it("drops other escape sequences instead of showing garbage", () => {
    const text = parseAnsi("\u001b]0;title\u0007\u001b[2Kprogress\r\u001b[1Gdone\n")
      .map((s) => s.text)
      .join("");
    expect(text).toBe("progressdone\n");
  });
});
