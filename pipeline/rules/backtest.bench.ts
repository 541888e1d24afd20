/**
 * A backtest of one rule over 1,000,000 stored readings (the target:
 * ≤ 5 s on this machine), beside the bare `SELECT count(*)` of the same rows,
 * both through the query processes as the tools run them. Best of 3.
 * Run: npx tsx pipeline/rules/backtest.bench.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteLakehouse } from "../stores/sqlite/lakehouse.js";
import { DRIVE_START, enrichedDrive, ruleRow } from "./simulated.js";

const READINGS = 1_000_000;
const ROUNDS = 3;
const dir = mkdtempSync(join(tmpdir(), "carwatch-backtest-bench-"));
const lakehouse = new SqliteLakehouse(dir);

try {
  await lakehouse.init();
  const drive = enrichedDrive(READINGS, { everyMs: 10, rates: { harshBraking: 0.002, stuckSensor: 0.001, quietCar: 0.0005, engineDrift: 0.0005 } });
  for (let i = 0; i < drive.length; i += 10_000) {
    const rows = drive.slice(i, i + 10_000).map((e) => ({ ...e, is_alert: false, rules: "" }));
    await lakehouse.write([{ table: "cars_enriched", rows }]);
  }
  const fromMs = DRIVE_START;
  const toMs = drive.at(-1)!.event_time + 1;
  const rules = {
    "speed > 140 for 3s where color = Red": ruleRow("red_fast", {
      condition: { kind: "threshold", field: "speed", op: ">", value: 140, for_seconds: 3 },
      scope: { colors: ["Red"] },
    }),
    "speed > 120": ruleRow("speeding", { condition: { kind: "threshold", field: "speed", op: ">", value: 120 } }),
    "baseline rpm z > 4": ruleRow("rpm_baseline", { condition: { kind: "baseline", field: "rpm", k: 4, warmup: 100, alpha: 0.05, band_kmh: 10 } }),
  };
  const best = async (f: () => Promise<unknown>) => {
    let ms = Number.POSITIVE_INFINITY;
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      await f();
      ms = Math.min(ms, performance.now() - t0);
    }
    return ms;
  };
  let count = 0;
  const countMs = await best(async () => {
    const [r] = await lakehouse.aggregate<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_enriched WHERE event_time >= ? AND event_time < ?", [
      new Date(fromMs),
      new Date(toMs),
    ]);
    count = Number(r!.n);
  });
  console.log(`${count} stored readings of 50 cars; best of ${ROUNDS}, wall time through the query process`);
  console.log(`SELECT count(*) of the range: ${countMs.toFixed(0)} ms`);
  for (const [text, rule] of Object.entries(rules)) {
    let alerts = 0;
    let readings = 0;
    const ms = await best(async () => {
      const r = await lakehouse.backtest({ rules: [rule], fromMs, toMs, watermarkMs: 10_000 });
      alerts = r.alerts;
      readings = r.readings;
    });
    console.log(
      `backtest "${text}": ${ms.toFixed(0)} ms (${((ms * 1e6) / readings).toFixed(0)} ns/reading, ${alerts} alerts), ${(ms / countMs).toFixed(1)}× the count; target ≤ 5000 ms: ${ms <= 5000 ? "met" : "MISSED"}`,
    );
  }
} finally {
  await lakehouse.close();
  rmSync(dir, { recursive: true, force: true });
}
