import { configDefaults, defineConfig } from "vitest/config";

// The real local model's suite takes both cores for minutes: it runs after everything else, alone (groupOrder),
// so it neither slows the server suites nor is slowed by them.
const LOCAL_MODEL_SUITE = "test/agent-local.test.ts";

export default defineConfig({
  test: {
    exclude: [...configDefaults.exclude, "data/**"],
    // Integration tests spawn child processes and open SQLite files; two cores.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "carwatch", include: ["**/*.test.ts"], exclude: [...configDefaults.exclude, "data/**", LOCAL_MODEL_SUITE] } },
      { extends: true, test: { name: "local-model", include: [LOCAL_MODEL_SUITE], sequence: { groupOrder: 1 } } },
    ],
  },
});
