import { describe, expect, it } from "vitest";

import { diffLines, hunks } from "../src/diff";

describe("diffLines", () => {
  it("shows a new file as all added", () => {
    expect(diffLines(null, "a\nb\n").map((l) => `${l.op}${l.text}`)).toEqual(["+a", "+b"]);
  });

  it("finds the changed lines between unchanged ones", () => {
    const lines = diffLines("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
    expect(lines.map((l) => `${l.op}${l.text}`)).toEqual([" a", "-b", "+B", " c", " d", "+e"]);
    expect(lines[2]).toMatchObject({ oldNo: null, newNo: 2 });
    expect(lines[3]).toMatchObject({ oldNo: 3, newNo: 3 });
  });

  it("groups changes into hunks with context", () => {
    const old = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n");
    const changed = old.replace("line 2\n", "line two\n").replace("line 17", "line seventeen");
    const groups = hunks(diffLines(old, changed), 2);
    expect(groups).toHaveLength(2);
    expect(groups[0]?.oldStart).toBe(1);
    expect(groups[1]?.lines.filter((l) => l.op !== " ").map((l) => l.text)).toEqual([
      "line 17",
      "line seventeen",
    ]);
  });
});
