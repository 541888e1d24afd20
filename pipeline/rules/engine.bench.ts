/**
 * The rule engine's cost per reading with 3, 30 and 300 enabled rules over a
 * simulated drive (50 cars, every anomaly on), and its rate against 3 rules.
 * "scoped": the rules beyond the first three cycle over all cars, one color,
 * one model and a few cars, as a real rule set would; "global": all apply to
 * every car (the worst case). The targets are on the alert stage's
 * throughput (30 rules ≥ 0.8×, 300 ≥ 0.5× the 3-rule rate), where the engine is
 * a small part of a reading's cost: with S ns per reading for the rest of the
 * stage and Δ the engine's extra ns over 3 rules, the stage's ratio is
 * S / (S + Δ); the last lines give the S each target needs (S ≥ 4Δ for 0.8×,
 * S ≥ Δ for 0.5×). Run: npx tsx pipeline/rules/engine.bench.ts
 */
import type { Rule, RuleCondition, RuleScope } from "../../domain/rule-spec.js";
import { CAR_COLORS, CAR_MODELS } from "../model/dims.js";
import { RuleEngine } from "./engine.js";
import { enrichedDrive, FIRST_WAVE, ruleRow } from "./simulated.js";

const READINGS = 200_000;
const ROUNDS = 3;
const drive = enrichedDrive(READINGS, {
  rates: { harshBraking: 0.002, stuckSensor: 0.001, quietCar: 0.0005, engineDrift: 0.0005 },
});

// Thresholds a fleet would use: they fire on the simulator's anomalies, rarely on normal driving.
const conditions = (i: number): RuleCondition => {
  const s = i % 8;
  if (s === 0) return { kind: "threshold", field: "speed", op: ">", value: 125 + (i % 60) };
  if (s === 1) return { kind: "threshold", field: "rpm", op: ">=", value: 4500 + i, for_seconds: 5 + (i % 30) };
  if (s === 2) return { kind: "wrong_gear", tolerance: 1 };
  if (s === 3) return { kind: "harsh_acceleration", kmh_per_s: 12 + (i % 10) };
  if (s === 4) return { kind: "harsh_braking", kmh_per_s: 20 + (i % 10) };
  if (s === 5) return { kind: "stuck_sensor", field: "rpm", readings: 10 + (i % 20) };
  if (s === 6) return { kind: "silence", minutes: 2 + (i % 5) };
  return { kind: "baseline", field: "rpm", k: 6 + (i % 3), warmup: 100, alpha: 0.01, band_kmh: 5 };
};
const scopes = (i: number): RuleScope => {
  const s = Math.floor(i / 8) % 4;
  if (s === 1) return { colors: [CAR_COLORS[i % CAR_COLORS.length]!.color_name] };
  if (s === 2) return { models: [CAR_MODELS[i % CAR_MODELS.length]!.model_name] };
  if (s === 3) return { car_ids: [1 + (i % 50), 1 + ((i * 7) % 50)] };
  return {};
};
const ruleSet = (n: number, scoped: boolean): Rule[] => [
  ...FIRST_WAVE,
  ...Array.from({ length: n - FIRST_WAVE.length }, (_, i) => ruleRow(`r${i}`, { condition: conditions(i), scope: scoped ? scopes(i) : {} })),
];

/** ns per reading (best of ROUNDS), and firings per reading. */
function measure(rules: Rule[]): { ns: number; firings: number } {
  let best = Number.POSITIVE_INFINITY;
  let firings = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const engine = new RuleEngine(rules);
    firings = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < drive.length; i++) {
      firings += engine.evaluate(drive[i]!).length;
      // The alert stage moves the watermark once a batch.
      if (i % 500 === 499) firings += engine.advance(drive[i]!.event_time - 10_000).length;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / drive.length);
  }
  return { ns: best, firings: firings / drive.length };
}

console.log(`${drive.length} readings of 50 cars, best of ${ROUNDS}`);
for (const scoped of [true, false]) {
  const label = scoped ? "scoped" : "global";
  const base = measure(ruleSet(3, scoped));
  const extra: Record<number, number> = {};
  for (const n of [3, 30, 300]) {
    const m = n === 3 ? base : measure(ruleSet(n, scoped));
    extra[n] = m.ns - base.ns;
    console.log(
      `${label} ${String(n).padStart(3)} rules: ${m.ns.toFixed(0).padStart(5)} ns/reading, ${m.firings.toFixed(3)} firings/reading, engine rate ${(base.ns / m.ns).toFixed(2)}× its 3-rule rate`,
    );
  }
  console.log(
    `${label}: the stage targets hold if the rest of the alert stage costs ≥ ${((4 * extra[30]!) / 1000).toFixed(1)} µs (30 rules) and ≥ ${(extra[300]! / 1000).toFixed(1)} µs (300 rules) per reading`,
  );
}
