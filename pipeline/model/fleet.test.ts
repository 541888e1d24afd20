import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type AnomalyRates, anomalyRatesSchema, Fleet, type FleetOutput } from "./fleet.js";
import { engineRpm, expectedGear } from "./gear.js";

const ids = Array.from({ length: 20 }, (_, i) => i + 1);
const run = (rates: Partial<AnomalyRates>, n: number, seed = 7) => {
  const f = new Fleet(ids, { speeding: 0, highRpm: 0, wrongGear: 0, malformed: 0, ...rates }, seed, 0);
  return Array.from({ length: n }, (_, i) => f.next(i * 100));
};
const events = (out: FleetOutput[]) => out.flatMap((o) => (o.kind === "event" ? [o] : []));
/** Each car's readings in order, with the event time they were asked for. */
const byCar = (rates: Partial<AnomalyRates>, n: number) => {
  const f = new Fleet(ids, { speeding: 0, highRpm: 0, wrongGear: 0, malformed: 0, ...rates }, 7, 0);
  const cars = new Map<number, { t: number; speed: number; rpm: number; gear: number }[]>();
  for (let i = 0; i < n; i++) {
    const o = f.next(i * 100);
    if (o.kind !== "event") continue;
    const list = cars.get(o.car_id) ?? cars.set(o.car_id, []).get(o.car_id)!;
    list.push({ t: i * 100, speed: o.speed, rpm: o.rpm, gear: o.gear });
  }
  return [...cars.values()];
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

  // Hashes of the first 10 000 outputs of seed 7, computed from the simulator before the detectors' anomalies
  // were added: with their rates at the default 0, every reading is as it was.
  it.each([
    ["the default rates", {}, "c5830dc55053a57f5f1006accec67a02db8b1dc93dcd0f6a1647e049b3b395c7"],
    [
      "the first anomalies on",
      { speeding: 0.01, highRpm: 0.01, wrongGear: 0.01, malformed: 0.05 },
      "780b0879edad694b8a96eb97dedc278591b62a97a2b3c0497d0090e80d8bad41",
    ],
  ])("with %s, drives exactly as before the detectors' anomalies", (_, rates, hash) => {
    const start = Date.UTC(2026, 0, 1);
    const f = new Fleet(ids, anomalyRatesSchema.parse(rates), 7, start);
    const h = createHash("sha256");
    for (let i = 0; i < 10_000; i++) h.update(`${JSON.stringify(f.next(start + i * 100))}\n`);
    expect(h.digest("hex")).toBe(hash);
  });

  it("harsh braking: 30–40 km/h per second between readings, down to a stop", () => {
    const decels = (rates: Partial<AnomalyRates>) =>
      byCar(rates, 20_000).flatMap((r) => r.slice(1).map((x, i) => ({ rate: (r[i]!.speed - x.speed) / ((x.t - r[i]!.t) / 1000), stopped: x.speed === 0 })));
    // Normal braking stays under 18 km/h/s (15 × 1.2).
    expect(decels({}).filter((d) => d.rate > 18.01)).toEqual([]);
    const hard = decels({ harshBraking: 0.003 }).filter((d) => d.rate > 18.01);
    expect(hard.filter((d) => d.rate >= 30).length).toBeGreaterThan(20);
    // Below 30 only on the reading that reaches the stop.
    for (const d of hard) expect(d.rate >= 30 || d.stopped).toBe(true);
    expect(Math.max(...hard.map((d) => d.rate))).toBeLessThanOrEqual(40);
  });

  it("stuck sensor: rpm frozen for 20–40 consecutive readings while driving", () => {
    const runs = (rates: Partial<AnomalyRates>) =>
      byCar(rates, 40_000).flatMap((r) => {
        const lengths: number[] = [];
        let n = 1;
        for (let i = 1; i < r.length; i++) {
          if (r[i]!.rpm === r[i - 1]!.rpm && r[i]!.speed > 0 && r[i - 1]!.speed > 0) n++;
          else {
            if (n > 1) lengths.push(n);
            n = 1;
          }
        }
        return lengths;
      });
    expect(Math.max(...runs({}))).toBeLessThan(8);
    const stuck = runs({ stuckSensor: 0.002 }).filter((n) => n >= 8);
    expect(stuck.length).toBeGreaterThan(5);
    // 40 frozen readings, and the one before may have had the same value by chance.
    expect(Math.max(...stuck)).toBeLessThanOrEqual(41);
  });

  it("quiet car: a moving car sends nothing for 3–8 minutes, then resumes", () => {
    const gaps = (rates: Partial<AnomalyRates>) =>
      byCar(rates, 100_000).flatMap((r) => r.slice(1).flatMap((x, i) => (x.t - r[i]!.t > 10_000 ? [{ gap: x.t - r[i]!.t, speed: r[i]!.speed }] : [])));
    expect(gaps({})).toEqual([]);
    const quiet = gaps({ quietCar: 0.0005 });
    expect(quiet.length).toBeGreaterThan(3);
    for (const q of quiet) {
      expect(q.speed).toBeGreaterThan(0);
      // Round-robin over the cars still talking: the resume comes at most one turn after the silence ends.
      expect(q.gap).toBeGreaterThanOrEqual(3 * 60_000);
      expect(q.gap).toBeLessThanOrEqual(8 * 60_000 + 2_000);
    }
    // The others keep sending meanwhile: as many readings as asked for.
    expect(events(run({ quietCar: 0.0005 }, 100_000))).toHaveLength(100_000);
  });

  it("engine drift: rpm above the gear model's by a factor growing 1–3 % per minute, for up to 15 minutes", () => {
    const factors = (rates: Partial<AnomalyRates>) =>
      events(run(rates, 200_000))
        .filter((e) => e.gear > 0 && engineRpm(e.speed, e.gear) > 800)
        .map((e) => e.rpm / engineRpm(e.speed, e.gear));
    expect(factors({}).every((f) => f === 1)).toBe(true);
    const drifted = factors({ engineDrift: 0.0005 }).filter((f) => f > 1.005);
    expect(drifted.length).toBeGreaterThan(500);
    expect(Math.max(...drifted)).toBeGreaterThan(1.1);
    expect(Math.max(...drifted)).toBeLessThanOrEqual(1.46);
  });

  it("sends the configured share of malformed events, of every kind", () => {
    const out = run({ malformed: 0.05 }, 10_000);
    const bad = out.filter((o) => o.kind === "malformed");
    expect(bad.length).toBeGreaterThan(400);
    expect(bad.length).toBeLessThan(600);
    expect(new Set(bad.map((o) => (o.kind === "malformed" ? o.reason : ""))).size).toBe(5);
  });
});
