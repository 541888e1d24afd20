import { describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";
import { expectedGear } from "./gear.js";

const ids = Array.from({ length: 20 }, (_, i) => i + 1);
const run = (rates: Partial<ConstructorParameters<typeof Fleet>[1]>, n: number, seed = 7) => {
  const f = new Fleet(ids, { speeding: 0, highRpm: 0, wrongGear: 0, malformed: 0, ...rates }, seed, 0);
  return Array.from({ length: n }, (_, i) => f.next(i * 100));
};

describe("fleet simulator", () => {
  it("is deterministic for a seed", () => {
    expect(run({ speeding: 0.01 }, 500).map((o) => o.json)).toEqual(run({ speeding: 0.01 }, 500).map((o) => o.json));
  });

  it("without anomalies drives cleanly: no alerts of any kind", () => {
    const out = run({}, 20_000);
    for (const o of out) {
      if (o.kind !== "event") throw new Error("unexpected malformed event");
      expect(o.speed).toBeLessThanOrEqual(120);
      expect(o.rpm).toBeLessThanOrEqual(6000);
      expect(o.gear).toBe(expectedGear(o.speed));
    }
    // Cars really drive: several states are visited.
    expect(new Set(out.map((o) => (o.kind === "event" ? Math.round(o.speed / 20) : -1))).size).toBeGreaterThan(4);
  });

  it("changes speed smoothly between readings of a car", () => {
    const out = run({ speeding: 0.005 }, 20_000);
    const last = new Map<number, number>();
    for (const o of out) {
      if (o.kind !== "event") continue;
      const prev = last.get(o.car_id);
      // 20 cars at one event per 100 ms: 2 s between readings of a car, at most 15 km/h/s (+noise).
      if (prev !== undefined) expect(Math.abs(o.speed - prev)).toBeLessThanOrEqual(36);
      last.set(o.car_id, o.speed);
    }
  });

  it("injects each anomaly as episodes", () => {
    const out = run({ speeding: 0.01, highRpm: 0.01, wrongGear: 0.01 }, 20_000);
    const ev = out.flatMap((o) => (o.kind === "event" ? [o] : []));
    expect(Math.max(...ev.map((e) => e.speed))).toBeGreaterThan(130);
    expect(Math.max(...ev.map((e) => e.speed))).toBeLessThanOrEqual(181);
    expect(ev.filter((e) => e.rpm > 6000).length).toBeGreaterThan(50);
    expect(ev.filter((e) => e.gear !== expectedGear(e.speed)).length).toBeGreaterThan(50);
  });

  it("sends the configured share of malformed events, of every kind", () => {
    const out = run({ malformed: 0.05 }, 10_000);
    const bad = out.filter((o) => o.kind === "malformed");
    expect(bad.length).toBeGreaterThan(400);
    expect(bad.length).toBeLessThan(600);
    expect(new Set(bad.map((o) => (o.kind === "malformed" ? o.reason : ""))).size).toBe(5);
  });
});
