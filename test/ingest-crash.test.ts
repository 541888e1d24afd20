import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { startCarwatch } from "./support/carwatch-process.js";

const dir = mkdtempSync(join(tmpdir(), "carwatch-ingest-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = "admin-token-for-the-crash-test";

const start = () => startCarwatch({ DATA_DIR: dir, CARWATCH_ROLES: "http,enrich,alert,aggregate", CARWATCH_ADMIN_TOKEN: TOKEN });

describe("kill -9 right after a series of 2xx answers, then a restart", () => {
  it("every accepted event_id is in cars_raw and cars_enriched exactly once", async () => {
    const first = await start();
    const accepted: string[] = [];
    for (let b = 0; b < 30; b++) {
      const readings = Array.from({ length: 200 }, (_, i) => ({
        event_id: randomUUID(),
        event_time: new Date(Date.now() - 60_000 + b * 1000 + i).toISOString(),
        car_id: 1 + (i % 20),
        speed: 50 + (i % 90),
        rpm: 2500,
        gear: 3,
      }));
      const r = await fetch(`${first.url}/api/v1/readings`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
        body: readings.map((x) => JSON.stringify(x)).join("\n"),
      });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { accepted: number }).accepted).toBe(200);
      accepted.push(...readings.map((x) => x.event_id));
    }
    first.child.proc.kill("SIGKILL");
    expect(await first.child.exited).toBeNull();

    // The restart replays raw rows that never reached cars_enriched; wait for it through the API, not a sleep.
    const second = await start();
    const enriched = async () => {
      const r = await fetch(`${second.url}/api/v1/tools/count_rows`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ table: "telemetry.cars_enriched" }),
      });
      return ((await r.json()) as { result: { rows: number } }).result.rows;
    };
    while ((await enriched()) < accepted.length) await new Promise((r) => setTimeout(r, 100));
    second.child.proc.kill("SIGTERM");
    expect(await second.child.exited).toBe(0);

    const db = new Database(join(dir, "lakehouse", "telemetry.db"), { readonly: true });
    try {
      for (const table of ["cars_raw", "cars_enriched"]) {
        const rows = db.prepare(`SELECT event_id, count(*) AS n FROM ${table} GROUP BY event_id`).all() as { event_id: string; n: number }[];
        expect(rows.length, table).toBe(accepted.length);
        expect(
          rows.every((r) => r.n === 1),
          table,
        ).toBe(true);
        expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(accepted));
      }
    } finally {
      db.close();
    }
  });
});
