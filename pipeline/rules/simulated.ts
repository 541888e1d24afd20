import type { EnrichedEvent } from "../../domain/events.js";
import { type Rule, type RuleCondition, type RuleScope, type RuleSpec, ruleSpecSchema } from "../../domain/rule-spec.js";
import { CAR_COLORS, CAR_MODELS, seedCars } from "../model/dims.js";
import { type AnomalyRates, Fleet } from "../model/fleet.js";
import { expectedGear } from "../model/gear.js";
import { firstWaveRules } from "../model/rules.js";

/** The engine's tests and bench: enriched readings of a simulated drive, and rule rows. */

export const DRIVE_START = Date.UTC(2026, 10, 1, 8, 0, 0);

/** `n` simulator outputs (readings only: malformed ones are dropped) of `cars` seeded cars, one every `everyMs`, enriched as the enrich stage does. */
export function enrichedDrive(n: number, opts: { cars?: number; everyMs?: number; seed?: number; rates?: Partial<AnomalyRates> } = {}): EnrichedEvent[] {
  const cars = seedCars(opts.cars ?? 50);
  const dims = new Map(
    cars.map((c) => {
      const m = CAR_MODELS.find((x) => x.model_id === c.model_id)!;
      const color = CAR_COLORS.find((x) => x.color_id === c.color_id)!;
      return [c.car_id, { driver_id: c.driver_id, brand_name: m.brand_name, model_name: m.model_name, color_name: color.color_name }];
    }),
  );
  const fleet = new Fleet(
    cars.map((c) => c.car_id),
    { malformed: 0, ...opts.rates },
    opts.seed ?? 1,
    DRIVE_START,
  );
  const out: EnrichedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const o = fleet.next(DRIVE_START + i * (opts.everyMs ?? 50));
    if (o.kind !== "event") continue;
    const raw = JSON.parse(o.json) as { event_id: string; event_time: string };
    const car = dims.get(o.car_id)!;
    // Field by field, as the enrich stage's join() does: one object shape (spreading makes slow dictionary objects here).
    out.push({
      event_id: raw.event_id,
      event_time: Date.parse(raw.event_time),
      car_id: o.car_id,
      speed: o.speed,
      rpm: o.rpm,
      gear: o.gear,
      driver_id: car.driver_id,
      brand_name: car.brand_name,
      model_name: car.model_name,
      color_name: car.color_name,
      expected_gear: expectedGear(o.speed),
    });
  }
  return out;
}

/** A stored rule from a spec (defaults filled in as create_rule does): enabled, version 1 unless told. */
export function ruleRow(id: string, spec: Partial<RuleSpec> & Pick<RuleSpec, "condition">, extra: Partial<Rule> = {}): Rule {
  return { ...ruleSpecSchema.parse({ name: id, ...spec }), id, enabled: true, version: 1, updated_by: "test", updated_at: 0, ...extra };
}

/** The first wave's three rules as seeded rows. */
export const FIRST_WAVE: readonly Rule[] = firstWaveRules({ speedLimit: 120, rpmLimit: 6000 }, 60).map((spec) => ruleRow(spec.name, spec));

/** The demo's anomaly rates for the new kinds (the first wave's stay as configured). */
export const BENCH_ANOMALIES = { harshBraking: 0.002, stuckSensor: 0.001, quietCar: 0.0005, engineDrift: 0.0005 };

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

/**
 * The benches' rule sets: the first wave's three and n − 3 more cycling over
 * every kind; `scoped`: those cycle over all cars, one color, one model and a
 * few cars, as a real rule set would; otherwise all apply to every car (the worst case).
 */
export function benchRules(n: number, scoped: boolean): Rule[] {
  return [
    ...FIRST_WAVE,
    ...Array.from({ length: n - FIRST_WAVE.length }, (_, i) => ruleRow(`r${i}`, { condition: conditions(i), scope: scoped ? scopes(i) : {} })),
  ];
}
