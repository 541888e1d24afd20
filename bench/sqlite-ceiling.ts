import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { TABLES } from "../domain/tables.js";
import { createTableSql, insertSql } from "../pipeline/stores/sqlite/schema.js";
import { rowEncoder } from "../pipeline/stores/sqlite/values.js";

/**
 * The rows every reading costs the lakehouse (its raw copy and its enriched
 * row), through bare better-sqlite3 batched inserts into the same tables with
 * the same pragmas: the store's ceiling for the pipeline. One thread, so
 * 1e6 / rate is also its CPU µs per reading.
 */
export function insertCeiling(lines: string[]): { rate: number } {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-bench-"));
  const db = new Database(join(dir, "catalog.db"));
  db.prepare("ATTACH DATABASE ? AS telemetry").run(join(dir, "telemetry.db"));
  db.pragma("telemetry.journal_mode = WAL");
  db.pragma("telemetry.synchronous = NORMAL");
  db.pragma("telemetry.cache_size = -16384");
  for (const t of [TABLES.cars_raw, TABLES.cars_enriched]) for (const sql of createTableSql(t)) db.exec(sql);
  const raw = db.prepare(insertSql(TABLES.cars_raw));
  const enr = db.prepare(insertSql(TABLES.cars_enriched));
  const encRaw = rowEncoder(TABLES.cars_raw);
  const encEnr = rowEncoder(TABLES.cars_enriched);
  const rows = lines.map((l) => {
    const e = JSON.parse(l) as Record<string, unknown>;
    const t = Date.parse(e.event_time as string);
    return {
      raw: encRaw({ event_id: e.event_id, event_time: t, received_at: t, json: l }),
      enr: encEnr({
        ...e,
        event_time: t,
        driver_id: 1,
        brand_name: "Kia",
        model_name: "Rio",
        color_name: "Gray",
        expected_gear: e.gear,
        is_alert: false,
        rules: "",
      }),
    };
  });
  const tx = db.transaction((batch: typeof rows) => {
    for (const r of batch) {
      raw.run(r.raw);
      enr.run(r.enr);
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += 1000) tx(rows.slice(i, i + 1000));
  const s = (performance.now() - t0) / 1000;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { rate: rows.length / s };
}
