import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { createPipeline } from "./support/pipeline.js";

const dir = mkdtempSync(join(tmpdir(), "carwatch-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function child(mode: "run" | "recover"): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "support/pipeline-child.ts"), dir, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** Resolves with the first stdout line that matches. */
function line(proc: ChildProcess, match: (l: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on("line", (l) => {
      if (match(l)) {
        rl.close();
        resolve(l);
      }
    });
    proc.once("exit", (code) => reject(new Error(`child exited (${code}) before the expected line`)));
  });
}

describe("kill -9 mid-stream, then restart", () => {
  it("every accepted reading ends up exactly once in cars_enriched, each alert exactly once", async () => {
    const run = child("run");
    await line(run, (l) => l.startsWith("generated ") && Number(l.slice(10)) >= 30_000);
    run.kill("SIGKILL");
    await new Promise((r) => run.once("exit", r));

    // The crash really was mid-stream: accepted readings were still on their way to cars_enriched.
    const before = await createPipeline({ dir });
    const pending = before.count("telemetry.cars_raw") - before.count("telemetry.cars_enriched");
    await before.close();
    expect(pending).toBeGreaterThan(0);

    const recover = child("recover");
    await line(recover, (l) => l === "done");
    await new Promise((r) => recover.once("exit", r));

    const p = await createPipeline({ dir });
    try {
      const one = <T>(sql: string) => Object.values(p.lakehouse.selectSync(sql)[0]!)[0] as T;
      const raw = one<number>("SELECT count(*) FROM telemetry.cars_raw");
      expect(raw).toBeGreaterThanOrEqual(25_000);
      expect(one("SELECT count(*) FROM telemetry.cars_enriched")).toBe(raw);
      expect(one("SELECT count(*) FROM telemetry.cars_raw r WHERE NOT EXISTS (SELECT 1 FROM telemetry.cars_enriched e WHERE e.event_id = r.event_id)")).toBe(0);
      // Each rule that fires on a stored reading has exactly one alert row, and no alert lacks its reading.
      const fired = one<number>("SELECT sum((speed > 120) + (rpm > 6000) + (gear <> expected_gear)) FROM telemetry.cars_enriched");
      expect(one("SELECT count(*) FROM telemetry.alerts")).toBe(fired);
      expect(fired).toBeGreaterThan(0);
      expect(one("SELECT count(*) FROM telemetry.alerts a WHERE NOT EXISTS (SELECT 1 FROM telemetry.cars_enriched e WHERE e.event_id = a.event_id)")).toBe(0);
      expect(one("SELECT sum(event_count) FROM telemetry.incidents")).toBe(fired);
      expect(p.lakehouse.integrityCheck()).toEqual(["dims: ok", "telemetry: ok"]);
      expect(p.count("dims.cars")).toBe(20);
    } finally {
      await p.close();
    }
  });
});
