import { defineConfig } from "vitest/config";

// JSX settings come from tsconfig.json (preact's automatic runtime).
export default defineConfig({
  test: { environment: "jsdom", include: ["test/**/*.test.ts", "test/**/*.test.tsx"] },
});
