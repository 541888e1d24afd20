import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type App, startApp } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { silentLogger } from "../../core/log.js";

/**
 * One carwatch for a test file: startApp on a fresh DATA_DIR with `env`
 * (HTTP on a free port), the dimensions seeded, stopped and removed after
 * the file. Read `.app` inside tests.
 */
export function appForTests(env: Record<string, string>): { readonly app: App; readonly dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-app-"));
  let app: App | undefined;
  beforeAll(async () => {
    app = await startApp(loadConfig({ DATA_DIR: dir, HTTP_PORT: "0", LOG_LEVEL: "silent", ...env }, "/nonexistent/.env"), silentLogger);
    await app.supervisor.start("seed");
    await app.supervisor.waitFor("seed");
  });
  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    get app() {
      if (!app) throw new Error("the app starts in beforeAll");
      return app;
    },
  };
}
