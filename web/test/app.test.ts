import { describe, expect, it } from "vitest";

import { pageTitle, parseRoute } from "../src/app";

describe("routes", () => {
  it("reads the hash, then the path the server's fallback served", () => {
    expect(parseRoute("#/c/abc%2F1")).toEqual({ page: "conversation", id: "abc/1" });
    expect(parseRoute("#/new")).toEqual({ page: "new" });
    expect(parseRoute("", "/c/xyz")).toEqual({ page: "conversation", id: "xyz" });
    expect(parseRoute("", "/")).toEqual({ page: "home" });
    expect(parseRoute("#/jobs")).toEqual({ page: "jobs", id: null });
    expect(parseRoute("#/jobs/bench%201")).toEqual({ page: "jobs", id: "bench 1" });
  });

  it("puts waiting permissions first in the page title", () => {
    expect(pageTitle(2)).toMatch(/^\(2\) .*answer needed/);
    expect(pageTitle(0)).not.toMatch(/answer/);
  });
});
