import { expect } from "vitest";
import { seedCars } from "../../pipeline/model/dims.js";
import { Fleet } from "../../pipeline/model/fleet.js";
import { expectedGear } from "../../pipeline/model/gear.js";
import type { PipelineSettings } from "../../pipeline/stage.js";
import type { SqliteLakehouse } from "../../pipeline/stores/sqlite/lakehouse.js";
import { fromSqliteTime } from "../../pipeline/stores/sqlite/values.js";
import { TEST_SETTINGS } from "./pipeline.js";

/** A simulated drive: `n` readings from the seeded fleet on a virtual clock of `rate` readings per second. */
export interface Drive {
  n: number;
  rate: number;
  seed: number;
  start: number;
  settings?: PipelineSettings;
}

/**
 * What the pipeline must produce for a drive, computed independently of the
 * stages: row counts per table, alerts per
 * rule, incidents, dead letters per reason, and events per closed window.
 */
export function expectedRows(d: Drive) {
  const s = d.settings ?? TEST_SETTINGS;
  const fleet = new Fleet(
    seedCars(s.fleetSize).map((c) => c.car_id),
    s.anomalies,
    d.seed,
    d.start,
  );
  const at = (i: number) => d.start + (i * 1000) / d.rate;
  const out = Array.from({ length: d.n }, (_, i) => ({ t: at(i), o: fleet.next(at(i)) }));
  const valid = out.flatMap(({ t, o }) => (o.kind === "event" ? [{ t, ...o }] : []));
  const dead: Record<string, number> = {};
  for (const { o } of out) if (o.kind === "malformed") dead[o.reason] = (dead[o.reason] ?? 0) + 1;
  const rules = { speeding: 0, high_rpm: 0, wrong_gear: 0 };
  const last = new Map<string, number>();
  let incidents = 0;
  let alertEvents = 0;
  for (const e of valid) {
    const fired = [
      e.speed > s.thresholds.speedLimit && "speeding",
      e.rpm > s.thresholds.rpmLimit && "high_rpm",
      e.gear !== expectedGear(e.speed) && "wrong_gear",
    ].filter(Boolean) as (keyof typeof rules)[];
    if (fired.length) alertEvents++;
    for (const r of fired) {
      rules[r]++;
      const k = `${e.car_id}|${r}`;
      const prev = last.get(k);
      if (prev === undefined || e.t - prev > s.incidentGapMs) incidents++;
      last.set(k, e.t);
    }
  }
  const maxT = at(d.n - 1);
  const windows = new Map<number, number>();
  for (const e of valid) {
    const w = Math.floor(e.t / 60_000) * 60_000;
    if (w + 60_000 <= maxT - s.watermarkMs) windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  return { valid: valid.length, dead, rules, alertEvents, incidents, windows, fired: rules.speeding + rules.high_rpm + rules.wrong_gear };
}

/** The same figures, read from the tables. */
export function actualRows(lakehouse: SqliteLakehouse) {
  const one = (sql: string) => Number(Object.values(lakehouse.selectSync(sql)[0]!)[0] ?? 0);
  const byKey = (sql: string) => Object.fromEntries(lakehouse.selectSync<{ k: string; n: number }>(sql).map((r) => [r.k, r.n]));
  return {
    raw: one("SELECT count(*) FROM telemetry.cars_raw"),
    enriched: one("SELECT count(*) FROM telemetry.cars_enriched"),
    alertEvents: one("SELECT count(*) FROM telemetry.cars_enriched WHERE is_alert = 1"),
    rules: byKey("SELECT rule AS k, count(*) AS n FROM telemetry.alerts GROUP BY rule"),
    dead: byKey("SELECT reason AS k, count(*) AS n FROM telemetry.dead_letters GROUP BY reason"),
    incidents: one("SELECT count(*) FROM telemetry.incidents"),
    incidentEvents: one("SELECT sum(event_count) FROM telemetry.incidents"),
    windows: lakehouse
      .selectSync<{ window_start: string; events: number }>("SELECT window_start, events FROM telemetry.alert_windows ORDER BY window_start")
      .map((w) => [fromSqliteTime(w.window_start), w.events] as [number, number]),
  };
}

/** Every table holds exactly what the drive should have produced (one comparison, so a failure shows every difference). */
export function expectExactRows(lakehouse: SqliteLakehouse, want: ReturnType<typeof expectedRows>): void {
  const got = actualRows(lakehouse);
  expect(got).toEqual({
    raw: want.valid,
    enriched: want.valid,
    alertEvents: want.alertEvents,
    rules: want.rules,
    dead: want.dead,
    incidents: want.incidents,
    incidentEvents: want.fired,
    windows: [...want.windows.entries()],
  });
}
