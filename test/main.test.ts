import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import { StateStore } from "../state/store.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "carwatch-main-"));
  dirs.push(d);
  return d;
};

/** main.ts as a child with only `env` (and PATH): its exit code and what it wrote to stderr. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../main.ts")], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

describe("main.ts", () => {
  it("exits 2 on a bad configuration, naming the variable, before starting anything", async () => {
    const dir = tempDir();
    const { code, stderr } = await runMain({ DATA_DIR: dir, HTTP_PORT: "eighty" });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^carwatch: configuration error: .*HTTP_PORT/m);
  });
});

describe("startApp", () => {
  it("fails on a busy port and leaves nothing running: every stage run it began is ended", async () => {
    const dir = tempDir();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const config = loadConfig(
        { DATA_DIR: dir, HTTP_HOST: "127.0.0.1", HTTP_PORT: String(port), CARWATCH_ROLES: "http,enrich,alert,aggregate" },
        join(dir, ".env"),
      );
      await expect(startApp(config, silentLogger)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise((r) => busy.close(r));
    }
    const state = new StateStore(join(dir, "state.db"));
    try {
      const runs = state.recentRuns(undefined, 20);
      expect(runs.map((r) => r.stage).sort()).toEqual(["aggregate", "alert", "enrich", "seed"]);
      expect(runs.filter((r) => r.state === "running")).toEqual([]);
    } finally {
      state.close();
    }
  });
});
