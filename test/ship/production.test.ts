/**
 * The production install: a copy of the tree as a clone would have it, built
 * there, then left with production dependencies only (no tsx, no TypeScript),
 * runs `node dist/main.js`: /healthz answers, the fleet simulator's worker
 * thread and the query process start from compiled files, a window closes,
 * SIGTERM stops it cleanly.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnChild } from "../support/child.js";

const repo = join(import.meta.dirname, "../..");
const TOKEN = "admin-token-for-the-production-test";
let dir: string;
/** A timestamp as the SQLite lakehouse stores it. */
const sqliteTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "carwatch-production-"));
  // What a clone holds: tracked files and new ones not ignored (the tree as it is about to be committed).
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repo, encoding: "utf8" })
    .split("\0")
    .filter((f) => f && existsSync(join(repo, f)));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(repo, f), join(dir, f));
  }
  // The dependencies are copied, then pruned to the production ones, rather than installed: `npm install --omit=dev`
  // builds better-sqlite3 from source here (no prebuilt binaries can be fetched, about two minutes), and --offline
  // depends on what npm's cache happens to hold. The copy (6 s) and the prune (a few s) leave the same tree.
  cpSync(join(repo, "node_modules"), join(dir, "node_modules"), { recursive: true, verbatimSymlinks: true });
  const npm = (...args: string[]) => execFileSync("npm", [...args, "--no-audit", "--no-fund"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  npm("run", "build");
  npm("prune", "--omit=dev");
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the production install", () => {
  it("has no dev dependency and nothing to compile at start", () => {
    const modules = readdirSync(join(dir, "node_modules"));
    for (const dev of ["tsx", "typescript", "vitest", "esbuild"]) expect(modules, dev).not.toContain(dev);
    expect(modules).toContain("better-sqlite3");
    // npm start's prestart finds dist/ up to date, so it needs no TypeScript either.
    expect(() => execFileSync(process.execPath, ["scripts/build/build.mjs", "--if-stale"], { cwd: dir, stdio: "pipe" })).not.toThrow();
  });

  it("runs node dist/main.js: /healthz answers 200, a query runs in its process, a window closes, SIGTERM exits 0", async () => {
    const child = spawnChild(
      ["dist/main.js"],
      {
        PATH: process.env.PATH ?? "",
        DATA_DIR: join(dir, "data"),
        HTTP_PORT: "0",
        CARWATCH_ADMIN_TOKEN: TOKEN,
        GENERATOR_RATE: "2000",
        LOG_LEVEL: "info",
      },
      dir,
    );
    try {
      const up = await child.line((l) => l.includes("carwatch is up"));
      const url = /(http:\/\/[^"]+)\/healthz/.exec(up)![1]!;
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      // The generator runs only once its simulator, on a worker thread, has answered.
      expect(((await health.json()) as { parts: Record<string, { detail: string }> }).parts["stage:generator"]?.detail).toBe("running");

      const api = async (tool: string, body: unknown) => {
        const r = await fetch(`${url}/api/v1/tools/${tool}`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect(r.status, await r.clone().text()).toBe(200);
        return ((await r.json()) as { result: { rows: unknown[][] } }).result;
      };
      // A window closes once the watermark, which never runs ahead of the wall clock, passes its end: up to 70 s
      // after start-up. Readings from an earlier minute are a window the aggregate stage closes at once when it
      // starts (it resumes from the oldest reading): sent, then the stage restarted, through the API.
      const minute = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000;
      const readings = Array.from({ length: 25 }, (_, i) => ({
        event_id: randomUUID(),
        event_time: new Date(minute + i * 1000).toISOString(),
        car_id: 1 + (i % 20),
        speed: 50,
        rpm: 2500,
        gear: 3,
      }));
      const sent = await fetch(`${url}/api/v1/readings`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(readings),
      });
      expect(await sent.json()).toMatchObject({ accepted: 25 });
      const enriched = () => api("query", { sql: `SELECT count(*) FROM telemetry.cars_enriched WHERE event_time < '${sqliteTime(minute + 60_000)}'` });
      while (Number((await enriched()).rows[0]![0]) < 25) await new Promise((r) => setTimeout(r, 100));
      await api("stop_stage", { stage: "aggregate", confirm: true });
      await api("start_stage", { stage: "aggregate" });
      // `query` runs in the query process (a child process and its worker thread), unlike count_rows.
      const windows = () => api("query", { sql: "SELECT window_start, events FROM telemetry.alert_windows ORDER BY window_start" });
      let rows = (await windows()).rows;
      while (rows.length === 0) {
        await new Promise((r) => setTimeout(r, 100));
        rows = (await windows()).rows;
      }
      expect(rows[0]).toEqual([sqliteTime(minute), 25]);
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
  }, 60_000);
});
