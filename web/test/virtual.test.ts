import { describe, expect, it } from "vitest";

import { layout } from "../src/virtual";

describe("layout", () => {
  it("renders only the rows near the viewport", () => {
    const heights = Array<number>(20_000).fill(50);
    const { start, end, offsets } = layout(heights, 500_000, 800);
    expect(offsets[20_000]).toBe(1_000_000);
    expect(start).toBeGreaterThan(9_000);
    expect(end - start).toBeLessThan(60);
    expect(offsets[start]).toBeLessThanOrEqual(500_000);
    expect(offsets[end]).toBeGreaterThanOrEqual(500_800);
  });

  it("covers a short list whole", () => {
    expect(layout([10, 20, 30], 0, 800)).toMatchObject({ start: 0, end: 3 });
  });
});
