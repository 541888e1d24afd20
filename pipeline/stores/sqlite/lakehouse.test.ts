import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createPipeline, type TestPipeline } from "../../../test/support/pipeline.js";
import { SqliteLakehouse } from "./lakehouse.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const raw = (i: number) => ({
  event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  event_time: Date.UTC(2026, 10, 28, 12, 0, i % 60),
  received_at: Date.UTC(2026, 10, 28, 12, 1),
  json: `{"i":${i},"name":"O'Brien \u{1F697}"}`,
});

describe("SqliteLakehouse", () => {
  it("answers SELECT ... FROM schema.table as written", async () => {
    p = await createPipeline();
    await p.lakehouse.write([{ table: "car_colors", rows: [{ color_id: 1, color_name: "Gray" }] }]);
    expect(await p.lakehouse.select("SELECT color_name FROM dims.car_colors")).toEqual([{ color_name: "Gray" }]);
  });

  it("writes idempotently: the same batch twice gives the same counts", async () => {
    p = await createPipeline();
    const batch = [{ table: "cars_raw" as const, rows: Array.from({ length: 500 }, (_, i) => raw(i)) }];
    await p.lakehouse.write(batch);
    await p.lakehouse.write(batch);
    expect(p.count("telemetry.cars_raw")).toBe(500);
    const fresh = await p.lakehouse.insertNew("cars_raw", [raw(499), raw(500), raw(501)]);
    expect(fresh.map((r) => r.event_id)).toEqual([raw(500).event_id, raw(501).event_id]);
    expect(p.count("telemetry.cars_raw")).toBe(502);
    const [row] = await p.lakehouse.select<{ json: string; event_time: string }>("SELECT json, event_time FROM telemetry.cars_raw WHERE event_id = ?", [
      raw(7).event_id,
    ]);
    expect(row).toEqual({ json: raw(7).json, event_time: "2026-11-28 12:00:07.000" });
  });

  it("rebuilds fact tables made with the older uuid key under the time-ordered key, keeping every row", async () => {
    const dir = mkdtempSync(join(tmpdir(), "carwatch-rebuild-"));
    mkdirSync(join(dir, "lakehouse"));
    const old = new Database(join(dir, "lakehouse", "telemetry.db"));
    old.exec(`CREATE TABLE cars_raw (event_id TEXT NOT NULL, event_time TEXT NOT NULL, received_at TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (event_id));
      CREATE INDEX cars_raw_event_time ON cars_raw (event_time);`);
    const insert = old.prepare("INSERT INTO cars_raw VALUES (?, ?, '2026-11-28 12:01:00.000', ?)");
    for (let i = 0; i < 300; i++) insert.run(raw(i).event_id, `2026-11-28 12:00:${String(i % 60).padStart(2, "0")}.000`, raw(i).json);
    old.close();
    const lakehouse = new SqliteLakehouse(dir);
    try {
      await lakehouse.init();
      expect(lakehouse.rebuilt).toEqual(["telemetry.cars_raw"]);
      expect(lakehouse.selectSync("SELECT name, pk FROM pragma_table_info('cars_raw', 'telemetry') WHERE pk > 0 ORDER BY pk")).toEqual([
        { name: "event_time", pk: 1 },
        { name: "event_id", pk: 2 },
      ]);
      expect(lakehouse.selectSync("SELECT name FROM telemetry.sqlite_master WHERE type = 'index' AND tbl_name = 'cars_raw'")).toEqual([
        { name: "sqlite_autoindex_cars_raw_1" },
      ]);
      expect(lakehouse.selectSync("SELECT count(*) AS n, count(DISTINCT json) AS j FROM telemetry.cars_raw")).toEqual([{ n: 300, j: 300 }]);
      // Still idempotent on the new key: rows it holds are not added again.
      expect((await lakehouse.insertNew("cars_raw", [raw(5), raw(300)])).map((r) => r.event_id)).toEqual([raw(300).event_id]);
      const again = new SqliteLakehouse(dir);
      await again.init();
      expect(again.rebuilt).toEqual([]);
      await again.close();
    } finally {
      await lakehouse.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("identifies a reading by its event_id at its event_time, and drops the unique event_id index an older file has", async () => {
    p = await createPipeline();
    // The same id at another time is another reading; the same key again is not.
    const later = { ...raw(1), event_time: raw(1).event_time + 3_600_000, json: "{}" };
    expect((await p.lakehouse.insertNew("cars_raw", [raw(1), later, raw(2), { ...raw(1), json: "[]" }])).map((r) => r.event_time)).toEqual([
      raw(1).event_time,
      later.event_time,
      raw(2).event_time,
    ]);
    expect(p.lakehouse.selectSync("SELECT event_id, json FROM telemetry.cars_raw ORDER BY event_time")).toEqual([
      { event_id: raw(1).event_id, json: raw(1).json },
      { event_id: raw(2).event_id, json: raw(2).json },
      { event_id: raw(1).event_id, json: "{}" },
    ]);
    // A file from a carwatch that kept event_id unique on its own: the index goes, every row stays.
    await p.lakehouse.close();
    const db = new Database(join(p.dir, "lakehouse", "telemetry.db"));
    db.exec("DELETE FROM cars_raw WHERE json = '{}'; CREATE UNIQUE INDEX cars_raw_event_id_unique ON cars_raw (event_id)");
    db.close();
    const reopened = new SqliteLakehouse(p.dir);
    try {
      await reopened.init();
      expect(reopened.selectSync("SELECT name FROM telemetry.sqlite_master WHERE type = 'index' AND tbl_name = 'cars_raw' ORDER BY name")).toEqual([
        { name: "sqlite_autoindex_cars_raw_1" },
      ]);
      expect(reopened.selectSync("SELECT count(*) AS n FROM telemetry.cars_raw")).toEqual([{ n: 2 }]);
    } finally {
      await reopened.close();
    }
  });

  it("rolls a failed batch back whole", async () => {
    p = await createPipeline();
    await expect(
      p.lakehouse.write([
        { table: "cars_raw", rows: [raw(1)] },
        { table: "cars_raw", rows: [{ ...raw(2), json: null }] },
      ]),
    ).rejects.toThrow(/NOT NULL/);
    expect(p.count("telemetry.cars_raw")).toBe(0);
  });

  it("runs user queries read-only, with a row limit and a time limit", async () => {
    p = await createPipeline();
    await p.lakehouse.write([{ table: "cars_raw", rows: Array.from({ length: 50 }, (_, i) => raw(i)) }]);
    const r = await p.lakehouse.query("SELECT event_id FROM telemetry.cars_raw ORDER BY event_id", { maxRows: 10, timeoutMs: 5000 });
    expect(r.rows).toHaveLength(10);
    expect(r.truncated).toBe(true);
    expect(r.columns).toEqual(["event_id"]);
    await expect(p.lakehouse.query("DELETE FROM telemetry.cars_raw", { maxRows: 10, timeoutMs: 5000 })).rejects.toThrow(
      /only statements that return rows|readonly/,
    );
    await expect(p.lakehouse.query("DELETE FROM telemetry.cars_raw RETURNING event_id", { maxRows: 10, timeoutMs: 5000 })).rejects.toThrow(
      /readonly|query_only/i,
    );
    const slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    await expect(p.lakehouse.query(slow, { maxRows: 10, timeoutMs: 300 })).rejects.toThrow(/longer than 300 ms/);
    // The query process is killed at the deadline and another takes its place: the next query still works.
    expect((await p.lakehouse.query("SELECT count(*) AS n FROM telemetry.cars_raw", { maxRows: 1, timeoutMs: 5000 })).rows).toEqual([[50]]);
    expect(p.count("telemetry.cars_raw")).toBe(50);
  });

  it("reports table stats and compacts after a large delete", async () => {
    p = await createPipeline();
    await p.lakehouse.write([{ table: "cars_raw", rows: Array.from({ length: 5000 }, (_, i) => ({ ...raw(i), json: "x".repeat(500) })) }]);
    const before = await p.lakehouse.tableStats("cars_raw");
    expect(before.rows).toBe(5000);
    let deleted = 0;
    for (let n: number; (n = await p.lakehouse.deleteBefore("cars_raw", Date.UTC(2026, 10, 28, 12, 0, 30), 1000)) > 0; ) deleted += n;
    expect(deleted).toBe(2510); // 83 minutes × 30 s + 20
    const file = p.lakehouse.fileBytes("telemetry");
    const report = await p.lakehouse.maintain("cars_raw");
    expect(report.after.rows).toBe(2490);
    expect(report.after.bytes).toBeLessThan(before.bytes);
    expect(p.lakehouse.fileBytes("telemetry")).toBeLessThan(file);
    expect(p.lakehouse.integrityCheck()).toEqual(["dims: ok", "telemetry: ok"]);
  });
});
