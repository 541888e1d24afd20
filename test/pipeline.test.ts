import { afterEach, describe, expect, it } from "vitest";
import { Fleet } from "../pipeline/model/fleet.js";
import { expectedGear } from "../pipeline/model/gear.js";
import { seedCars } from "../pipeline/model/dims.js";
import { fromSqliteTime } from "../pipeline/stores/sqlite/values.js";
import { SENSORS } from "../pipeline/transport/topics.js";
import { createPipeline, TEST_SETTINGS, type TestPipeline } from "./support/pipeline.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const N = 6000;
const RATE = 20; // simulated events per second: 6000 events span 5 minutes

/** What the pipeline must produce, computed independently from the same simulated drive. */
function expected() {
  const fleet = new Fleet(
    seedCars(TEST_SETTINGS.fleetSize).map((c) => c.car_id),
    TEST_SETTINGS.anomalies,
    42,
    START,
  );
  const out = Array.from({ length: N }, (_, i) => ({ t: START + (i * 1000) / RATE, o: fleet.next(START + (i * 1000) / RATE) }));
  const valid = out.flatMap(({ t, o }) => (o.kind === "event" ? [{ t, ...o }] : []));
  const dead: Record<string, number> = {};
  for (const { o } of out) if (o.kind === "malformed") dead[o.reason] = (dead[o.reason] ?? 0) + 1;
  const rules = { speeding: 0, high_rpm: 0, wrong_gear: 0 };
  const last = new Map<string, number>();
  let incidents = 0;
  let alertEvents = 0;
  for (const e of valid) {
    const fired = [e.speed > 120 && "speeding", e.rpm > 6000 && "high_rpm", e.gear !== expectedGear(e.speed) && "wrong_gear"].filter(Boolean) as (keyof typeof rules)[];
    if (fired.length) alertEvents++;
    for (const r of fired) {
      rules[r]++;
      const k = `${e.car_id}|${r}`;
      const prev = last.get(k);
      if (prev === undefined || e.t - prev > TEST_SETTINGS.incidentGapMs) incidents++;
      last.set(k, e.t);
    }
  }
  const maxT = START + ((N - 1) * 1000) / RATE;
  const windows = new Map<number, number>();
  for (const e of valid) if (Math.floor(e.t / 60_000) * 60_000 + 60_000 <= maxT - TEST_SETTINGS.watermarkMs) {
    const w = Math.floor(e.t / 60_000) * 60_000;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  return { valid: valid.length, dead, rules, alertEvents, incidents, windows };
}

async function runGenerator(p: TestPipeline, params: Record<string, unknown>) {
  for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
  await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: RATE, seed: 42, ...params });
  await p.supervisor.waitFor("generator");
  await p.transport.whenIdle();
}

describe("embedded pipeline, end to end", () => {
  it("turns a simulated drive into exact rows in every table", async () => {
    const want = expected();
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    await runGenerator(p, { maxEvents: N });

    expect(p.count("dims.car_models")).toBe(7);
    expect(p.count("dims.car_colors")).toBe(7);
    expect(p.count("dims.cars")).toBe(20);
    expect(p.count("telemetry.cars_raw")).toBe(want.valid);
    expect(p.count("telemetry.cars_enriched")).toBe(want.valid);
    expect(p.count("telemetry.cars_enriched", "is_alert = 1")).toBe(want.alertEvents);
    const deadByReason = Object.fromEntries(
      p.lakehouse.selectSync<{ reason: string; n: number }>("SELECT reason, count(*) AS n FROM telemetry.dead_letters GROUP BY reason").map((r) => [r.reason, r.n]),
    );
    expect(deadByReason).toEqual(want.dead);
    expect(Object.keys(want.dead)).toHaveLength(5);
    const rules = Object.fromEntries(
      p.lakehouse.selectSync<{ rule: string; n: number }>("SELECT rule, count(*) AS n FROM telemetry.alerts GROUP BY rule").map((r) => [r.rule, r.n]),
    );
    expect(rules).toEqual(want.rules);
    expect(want.rules.speeding).toBeGreaterThan(0);
    expect(p.count("telemetry.incidents")).toBe(want.incidents);
    expect(p.lakehouse.selectSync<{ n: number }>("SELECT sum(event_count) AS n FROM telemetry.incidents")[0]!.n).toBe(
      want.rules.speeding + want.rules.high_rpm + want.rules.wrong_gear,
    );
    // Alerts are a minority, not noise.
    expect(want.alertEvents / want.valid).toBeLessThan(0.15);

    const windows = p.lakehouse.selectSync<{ window_start: string; events: number; alert_events: number; color_counts: string; rule_counts: string }>(
      "SELECT window_start, events, alert_events, color_counts, rule_counts FROM telemetry.alert_windows ORDER BY window_start",
    );
    expect(windows.map((w) => [fromSqliteTime(w.window_start), w.events])).toEqual([...want.windows.entries()]);
    for (const w of windows) {
      expect(Object.keys(JSON.parse(w.color_counts))).toEqual(["Black", "Red", "Gray", "White", "Green", "Blue", "Pink"]);
      expect(Object.keys(JSON.parse(w.rule_counts))).toEqual(["speeding", "high_rpm", "wrong_gear"]);
    }
    expect(p.supervisor.status("enrich").counters).toMatchObject({ in: N, out: want.valid, deadLetters: N - want.valid });
  });

  it("sends each kind of bad message to dead letters with its reason and keeps going", async () => {
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    await p.supervisor.start("alert");
    await p.supervisor.start("enrich");
    const good = { event_id: "6f1c2a4e-9b1d-4c3e-8f00-123456789abc", event_time: "2026-11-28T12:00:00.000Z", car_id: 3, speed: 88.5, rpm: 2500, gear: 5 };
    const bad = [
      ["{not json", "malformed_json"],
      [JSON.stringify({ ...good, car_id: undefined }), "missing_field"],
      [JSON.stringify({ ...good, gear: "fifth" }), "invalid_value"],
      [JSON.stringify({ ...good, speed: 999 }), "out_of_range"],
      [JSON.stringify({ ...good, car_id: 4242 }), "unknown_car"],
    ];
    await p.transport.publish(SENSORS, [...bad.map(([v]) => ({ key: "x", value: v! })), { key: "3", value: JSON.stringify(good) }]);
    await p.transport.whenIdle();
    expect(p.lakehouse.selectSync("SELECT reason, stage, payload FROM telemetry.dead_letters ORDER BY rowid")).toEqual(
      bad.map(([payload, reason]) => ({ reason, stage: "enrich", payload })),
    );
    expect(p.count("telemetry.cars_enriched")).toBe(1);
    expect(p.supervisor.status("enrich")).toMatchObject({ state: "running", counters: { in: 6, out: 1, deadLetters: 5 } });
  });

  it("seeds idempotently and picks up cars added later without a restart", async () => {
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    expect(p.count("dims.cars")).toBe(20);
    await p.supervisor.start("enrich");
    await p.supervisor.start("seed", { cars: 25 });
    await p.supervisor.waitFor("seed");
    expect(p.count("dims.cars")).toBe(25);
    const reading = { event_id: "6f1c2a4e-9b1d-4c3e-8f00-123456789abd", event_time: "2026-11-28T12:00:00.000Z", car_id: 24, speed: 10, rpm: 1250, gear: 1 };
    await p.transport.publish(SENSORS, [{ key: "24", value: JSON.stringify(reading) }]);
    await p.transport.whenIdle();
    expect(p.count("telemetry.cars_raw")).toBe(1);
    expect(p.count("telemetry.dead_letters")).toBe(0);
  });
});
