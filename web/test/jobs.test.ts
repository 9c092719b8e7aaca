// The jobs grid: each (task, agent) cell holds its trials in attempt order.
import { describe, expect, it } from "vitest";

import type { Trial } from "../src/types";
import { gridOf } from "../src/views/jobs";

function trial(task_id: string, agent: string, attempt: number, outcome: string): Trial {
  return {
    task_id,
    agent,
    attempt,
    outcome,
    conversation_id: `${task_id}-${agent}-${attempt}`,
    cost: null,
    currency: null,
    total_tokens: 0,
    wall_time: 1,
    stop_reason: null,
  };
}

describe("gridOf", () => {
  it("puts each trial in its task × agent cell, by attempt", () => {
    const grid = gridOf([
      trial("t1", "a", 2, "failed"),
      trial("t1", "b", 1, "passed"),
      trial("t1", "a", 1, "passed"),
      trial("t2", "a", 1, "running"),
    ]);
    expect([...grid.keys()]).toEqual(["t1", "t2"]);
    expect(
      grid
        .get("t1")
        ?.get("a")
        ?.map((t) => [t.attempt, t.outcome]),
    ).toEqual([
      [1, "passed"],
      [2, "failed"],
    ]);
    expect(grid.get("t1")?.get("b")).toHaveLength(1);
    expect(grid.get("t2")?.get("b")).toBeUndefined();
  });
});
