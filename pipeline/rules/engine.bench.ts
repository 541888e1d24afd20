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
import type { Rule } from "../../domain/rule-spec.js";
import { RuleEngine } from "./engine.js";
import { BENCH_ANOMALIES, enrichedDrive, benchRules as ruleSet } from "./simulated.js";

const READINGS = 200_000;
const ROUNDS = 3;
const drive = enrichedDrive(READINGS, { rates: BENCH_ANOMALIES });

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
