import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EnrichedEvent } from "../../domain/events.js";
import type { Comparator, Rule, RuleCondition, RuleScope } from "../../domain/rule-spec.js";
import { RuleEngine, type RuleFiring, type RuleStateRow } from "./engine.js";
import { DRIVE_START, enrichedDrive, FIRST_WAVE, ruleRow } from "./simulated.js";

const T0 = DRIVE_START;
let seq = 0;
const reading = (p: Partial<EnrichedEvent> = {}): EnrichedEvent => ({
  event_id: `e${++seq}`,
  event_time: T0,
  car_id: 1,
  speed: 50,
  rpm: 2400,
  gear: 3,
  expected_gear: 3,
  driver_id: 1,
  brand_name: "Kia",
  model_name: "Rio",
  color_name: "Red",
  ...p,
});
const one = (condition: RuleCondition, scope: RuleScope = {}) => new RuleEngine([ruleRow("r", { condition, scope })]);
/** The value of the one rule's firing on each reading, or null. */
const values = (engine: RuleEngine, readings: Partial<EnrichedEvent>[]) =>
  readings.map((p) => {
    const f = engine.evaluate(reading(p));
    return f.length === 0 ? null : f[0]!.value;
  });
const at = (seconds: number) => T0 + seconds * 1000;
const MIN = 60_000;

/** Everything a stream fires: evaluate per reading, advance to the reading's time − 10 s every `every` readings. */
function fire(engine: RuleEngine, readings: readonly EnrichedEvent[], every = 25, from = 0): RuleFiring[] {
  const out: RuleFiring[] = [];
  let watermark = Number.NEGATIVE_INFINITY;
  readings.forEach((e, i) => {
    out.push(...engine.evaluate(e));
    watermark = Math.max(watermark, e.event_time - 10_000);
    if ((from + i) % every === every - 1) out.push(...engine.advance(watermark));
  });
  return out;
}

/** One rule of every kind, some scoped. */
const ALL_KINDS: Rule[] = [
  ...FIRST_WAVE,
  ruleRow("fast_for_10s", { condition: { kind: "threshold", field: "speed", op: ">=", value: 100, for_seconds: 10 } }),
  ruleRow("wrong_gear_2", { condition: { kind: "wrong_gear", tolerance: 1 } }),
  ruleRow("harsh_acc", { condition: { kind: "harsh_acceleration", kmh_per_s: 8 } }),
  ruleRow("harsh_brake", { condition: { kind: "harsh_braking", kmh_per_s: 25 } }),
  ruleRow("stuck_rpm", { condition: { kind: "stuck_sensor", field: "rpm", readings: 8 } }),
  ruleRow("silent", { condition: { kind: "silence", minutes: 2 } }),
  ruleRow("rpm_baseline", { condition: { kind: "baseline", field: "rpm", k: 5, warmup: 50, alpha: 0.02, band_kmh: 5 } }),
  ruleRow("red_slow", { condition: { kind: "threshold", field: "speed", op: "<", value: 20 }, scope: { colors: ["Red"] } }),
];
const ANOMALIES = { speeding: 0.004, highRpm: 0.002, wrongGear: 0.006, harshBraking: 0.003, stuckSensor: 0.002, quietCar: 0.002, engineDrift: 0.001 };

/** The first wave's fixed rules as they were coded before rules were data: the oracle the seeded rows must match. */
function evaluateRules(e: EnrichedEvent, t: { speedLimit: number; rpmLimit: number }) {
  const hits: { rule: string; value: number; threshold: number }[] = [];
  if (e.speed > t.speedLimit) hits.push({ rule: "speeding", value: e.speed, threshold: t.speedLimit });
  if (e.rpm > t.rpmLimit) hits.push({ rule: "high_rpm", value: e.rpm, threshold: t.rpmLimit });
  if (e.gear !== e.expected_gear) hits.push({ rule: "wrong_gear", value: e.gear, threshold: e.expected_gear });
  return hits;
}

describe("rule engine: the first wave's rules", () => {
  it("fires exactly when evaluateRules does, with the same values and thresholds", () => {
    const drive = enrichedDrive(6000, { rates: { speeding: 0.02, highRpm: 0.01, wrongGear: 0.01 } });
    const engine = new RuleEngine(FIRST_WAVE);
    let hits = 0;
    for (const e of drive) {
      const expected = evaluateRules(e, { speedLimit: 120, rpmLimit: 6000 });
      hits += expected.length;
      expect(engine.evaluate(e).map((f) => ({ rule: f.rule, value: f.value, threshold: f.threshold }))).toEqual(expected);
    }
    // The drive does exercise every rule.
    expect(hits).toBeGreaterThan(300);
  });

  it("reports the rule's id, version, severity, and the reading", () => {
    const engine = new RuleEngine([ruleRow("speeding", { condition: FIRST_WAVE[0]!.condition, severity: "high" }, { id: "id-1", version: 4 })]);
    const e = reading({ speed: 130, car_id: 9 });
    expect(engine.evaluate(e)).toEqual([
      {
        rule_id: "id-1",
        rule: "speeding",
        version: 4,
        kind: "threshold",
        severity: "high",
        value: 130,
        threshold: 120,
        event_id: e.event_id,
        event_time: T0,
        car_id: 9,
      },
    ]);
  });

  it("evaluates enabled rules only, and returns one shared empty array when nothing fires", () => {
    const engine = new RuleEngine([ruleRow("speeding", { condition: FIRST_WAVE[0]!.condition }, { enabled: false }), ...FIRST_WAVE.slice(1)]);
    expect(engine.evaluate(reading({ speed: 200 }))).toBe(engine.evaluate(reading({ speed: 300 })));
    expect(engine.rules).toHaveLength(3);
  });
});

describe("threshold", () => {
  it.each<[Comparator, (number | null)[]]>([
    [">", [null, null, 100.1]],
    [">=", [null, 100, 100.1]],
    ["<", [99.9, null, null]],
    ["<=", [99.9, 100, null]],
  ])("speed %s 100 on 99.9, 100, 100.1", (op, expected) => {
    const engine = one({ kind: "threshold", field: "speed", op, value: 100 });
    expect(values(engine, [{ speed: 99.9 }, { speed: 100 }, { speed: 100.1 }])).toEqual(expected);
  });

  it("judges rpm and gear too", () => {
    expect(values(one({ kind: "threshold", field: "rpm", op: ">=", value: 3000 }), [{ rpm: 2999 }, { rpm: 3000 }])).toEqual([null, 3000]);
    expect(values(one({ kind: "threshold", field: "gear", op: "<", value: 1 }), [{ gear: 1 }, { gear: 0 }])).toEqual([null, 0]);
  });

  it("stateless: judges out-of-order and late readings like any other", () => {
    const engine = one({ kind: "threshold", field: "speed", op: ">", value: 100 });
    expect(
      values(engine, [
        { event_time: at(10), speed: 50 },
        { event_time: at(5), speed: 110 },
        { event_time: at(10), speed: 120 },
      ]),
    ).toEqual([null, 110, 120]);
  });
});

describe("sustained threshold (for_seconds)", () => {
  const sustained = () => one({ kind: "threshold", field: "speed", op: ">", value: 100, for_seconds: 10 });

  it("fires from the reading that completes the duration (exactly N s, not N s − 1 ms) and on each one after while it holds", () => {
    const engine = sustained();
    expect(
      values(engine, [
        { event_time: at(0), speed: 101 },
        { event_time: at(5), speed: 102 },
        { event_time: at(10) - 1, speed: 103 },
        { event_time: at(10), speed: 104 },
        { event_time: at(12), speed: 105 },
      ]),
    ).toEqual([null, null, null, 104, 105]);
  });

  it("starts over after a reading where it does not hold", () => {
    const engine = sustained();
    expect(
      values(engine, [
        { event_time: at(0), speed: 101 },
        { event_time: at(9), speed: 100 },
        { event_time: at(10), speed: 101 },
        { event_time: at(19), speed: 101 },
        { event_time: at(20), speed: 101 },
      ]),
    ).toEqual([null, null, null, null, 101]);
  });

  it("skips out-of-order and late readings: they neither fire nor break the run", () => {
    const engine = sustained();
    expect(
      values(engine, [
        { event_time: at(0), speed: 101 },
        { event_time: at(8), speed: 101 },
        // Older than the last: a late reading below the limit does not break the run, one above does not fire.
        { event_time: at(3), speed: 50 },
        { event_time: at(8), speed: 150 },
        { event_time: at(10), speed: 101 },
      ]),
    ).toEqual([null, null, null, null, 101]);
  });
});

describe("wrong gear", () => {
  it("fires when |gear − expected| > tolerance, with (gear, expected gear)", () => {
    const engine = one({ kind: "wrong_gear", tolerance: 1 });
    const fired = [2, 4, 1, 5, 6].map((gear) => engine.evaluate(reading({ gear, expected_gear: 3 })).map((f) => [f.value, f.threshold]));
    expect(fired).toEqual([[], [], [[1, 3]], [[5, 3]], [[6, 3]]]);
  });
});

describe("harsh acceleration and braking", () => {
  const brake = () => one({ kind: "harsh_braking", kmh_per_s: 30 });

  it("braking fires beyond X km/h per second (not at X), with the rate", () => {
    // 59 km/h less in 2 s is 29.5 km/h/s, 60 is exactly 30, 61 is 30.5.
    const drop = (to: number) =>
      values(brake(), [
        { event_time: at(0), speed: 100 },
        { event_time: at(2), speed: to },
      ]);
    expect([drop(41), drop(40), drop(39)]).toEqual([
      [null, null],
      [null, null],
      [null, 30.5],
    ]);
    // Speeding up never counts as braking.
    expect(
      values(brake(), [
        { event_time: at(0), speed: 0 },
        { event_time: at(1), speed: 100 },
      ]),
    ).toEqual([null, null]);
  });

  it("acceleration is the mirror image", () => {
    const acc = () => one({ kind: "harsh_acceleration", kmh_per_s: 10 });
    expect(
      values(acc(), [
        { event_time: at(0), speed: 20 },
        { event_time: at(2), speed: 40 },
      ]),
    ).toEqual([null, null]);
    expect(
      values(acc(), [
        { event_time: at(0), speed: 20 },
        { event_time: at(2), speed: 41 },
      ]),
    ).toEqual([null, 10.5]);
    expect(
      values(acc(), [
        { event_time: at(0), speed: 100 },
        { event_time: at(1), speed: 0 },
      ]),
    ).toEqual([null, null]);
  });

  it("judges readings at most 10 s apart", () => {
    expect(
      values(brake(), [
        { event_time: at(0), speed: 400 },
        { event_time: at(10), speed: 0 },
      ]),
    ).toEqual([null, 40]);
    expect(
      values(brake(), [
        { event_time: at(0), speed: 400 },
        { event_time: at(10) + 1, speed: 0 },
      ]),
    ).toEqual([null, null]);
  });

  it("compares with the previous reading in event time: late and out-of-order ones are skipped", () => {
    expect(
      values(brake(), [
        { event_time: at(0), speed: 100 },
        { event_time: at(2), speed: 100 },
        { event_time: at(1), speed: 10 }, // late: 90 km/h less than at 0 s in 1 s, but skipped
        { event_time: at(2), speed: 0 }, // same time as the last: skipped
        { event_time: at(4), speed: 20 }, // 80 less than at 2 s, in 2 s
      ]),
    ).toEqual([null, null, null, null, 40]);
  });
});

describe("stuck sensor", () => {
  const stuck = () => one({ kind: "stuck_sensor", field: "rpm", readings: 3 });
  const run = (rs: [number, number][]) => rs.map(([speed, rpm], i) => ({ event_time: at(i), speed, rpm }));

  it("fires on the Nth equal reading while moving and each one after, with the count", () => {
    expect(
      values(
        stuck(),
        run([
          [50, 2000],
          [51, 2000],
          [52, 2000],
          [53, 2000],
          [54, 2001],
        ]),
      ),
    ).toEqual([null, null, 3, 4, null]);
  });

  it("starts over when the value changes or the car stops", () => {
    expect(
      values(
        stuck(),
        run([
          [50, 2000],
          [51, 2000],
          [52, 2100],
          [53, 2100],
          [54, 2100],
        ]),
      ),
    ).toEqual([null, null, null, null, 3]);
    expect(
      values(
        stuck(),
        run([
          [50, 800],
          [51, 800],
          [0, 800],
          [0, 800],
          [5, 800],
          [6, 800],
        ]),
      ),
    ).toEqual([null, null, null, null, null, null]);
    expect(
      values(
        stuck(),
        run([
          [50, 800],
          [0, 800],
          [5, 800],
          [6, 800],
          [7, 800],
        ]),
      ),
    ).toEqual([null, null, null, null, 3]);
  });

  it("skips late readings", () => {
    expect(
      values(stuck(), [
        { event_time: at(1), speed: 50, rpm: 2000 },
        { event_time: at(2), speed: 50, rpm: 2000 },
        { event_time: at(0), speed: 50, rpm: 2500 },
        { event_time: at(3), speed: 50, rpm: 2000 },
      ]),
    ).toEqual([null, null, null, 3]);
  });

  it("watches speed too", () => {
    const engine = one({ kind: "stuck_sensor", field: "speed", readings: 2 });
    expect(
      values(engine, [
        { event_time: at(0), speed: 42.5, rpm: 1 },
        { event_time: at(1), speed: 42.5, rpm: 2 },
      ]),
    ).toEqual([null, 2]);
  });
});

describe("silence (on the watermark)", () => {
  const silence = () => one({ kind: "silence", minutes: 5 });
  const brief = (f: RuleFiring[]) => f.map((x) => ({ event_id: x.event_id, event_time: x.event_time, value: x.value, threshold: x.threshold }));

  it("fires once when last + N minutes ≤ watermark, again only after a new reading", () => {
    const engine = silence();
    const last = reading({ event_time: T0, speed: 40 });
    expect(engine.evaluate(last)).toEqual([]);
    expect(engine.advance(T0 + 5 * MIN - 1)).toEqual([]);
    expect(brief(engine.advance(T0 + 5 * MIN))).toEqual([{ event_id: last.event_id, event_time: T0 + 5 * MIN, value: 5, threshold: 5 }]);
    expect(engine.advance(T0 + 6 * MIN)).toEqual([]);
    expect(engine.advance(T0 + 60 * MIN)).toEqual([]);
    const next = reading({ event_time: T0 + 61 * MIN, speed: 40 });
    engine.evaluate(next);
    expect(engine.advance(T0 + 65 * MIN)).toEqual([]);
    expect(brief(engine.advance(T0 + 67 * MIN))).toEqual([{ event_id: next.event_id, event_time: T0 + 66 * MIN, value: 5, threshold: 5 }]);
  });

  it("never fires for a car that stood still at its last reading", () => {
    const engine = silence();
    engine.evaluate(reading({ event_time: T0, speed: 40 }));
    engine.evaluate(reading({ event_time: T0 + 1000, speed: 0 }));
    expect(engine.advance(T0 + 60 * MIN)).toEqual([]);
  });

  it("fires for a silence that ended before the watermark reached it, with the same value whenever advance() runs", () => {
    const engine = silence();
    const last = reading({ event_time: T0, speed: 40 });
    engine.evaluate(last);
    // The next reading, 6 minutes later, is evaluated before any watermark.
    const back = reading({ event_time: T0 + 6 * MIN, speed: 40 });
    engine.evaluate(back);
    expect(brief(engine.advance(T0 + 20 * MIN))).toEqual([
      { event_id: last.event_id, event_time: T0 + 5 * MIN, value: 5, threshold: 5 },
      { event_id: back.event_id, event_time: T0 + 11 * MIN, value: 5, threshold: 5 },
    ]);
    expect(engine.advance(T0 + 30 * MIN)).toEqual([]);
  });

  it("a reading exactly N minutes later ends no silence", () => {
    const engine = silence();
    engine.evaluate(reading({ event_time: T0, speed: 40 }));
    engine.evaluate(reading({ event_time: T0 + 5 * MIN, speed: 0 }));
    expect(engine.advance(T0 + 60 * MIN)).toEqual([]);
  });

  it("a late reading does not end a silence", () => {
    const engine = silence();
    const last = reading({ event_time: T0, speed: 40 });
    engine.evaluate(last);
    engine.evaluate(reading({ event_time: T0 - 1000, speed: 0 }));
    expect(brief(engine.advance(T0 + 5 * MIN))).toEqual([{ event_id: last.event_id, event_time: T0 + 5 * MIN, value: 5, threshold: 5 }]);
  });

  it("orders firings by event time, then car", () => {
    const engine = silence();
    engine.evaluate(reading({ car_id: 2, event_time: T0 + 1000 }));
    engine.evaluate(reading({ car_id: 3, event_time: T0 }));
    engine.evaluate(reading({ car_id: 1, event_time: T0 + 1000 }));
    expect(engine.advance(T0 + 10 * MIN).map((f) => f.car_id)).toEqual([3, 1, 2]);
  });
});

describe("baseline", () => {
  const cond = { kind: "baseline", field: "rpm", k: 3, warmup: 10, alpha: 0.1, band_kmh: 10 } as const;
  /** The band's (count, mean, variance) as the engine holds it. */
  const band = (engine: RuleEngine, b: number) => {
    const row = engine.snapshot().find((r) => r.rule_id === "r")!;
    const found = (row.state as { bands: [number, number, number, number][] }).bands.find(([i]) => i === b)!;
    return { n: found[1], mean: found[2], v: found[3] };
  };
  /** 10 readings at 55 km/h (band 5), alternating 2000 and 2100 rpm. */
  const warm = () => {
    const engine = one(cond);
    for (let i = 0; i < 10; i++) expect(engine.evaluate(reading({ event_time: at(i), speed: 55, rpm: i % 2 ? 2100 : 2000 }))).toEqual([]);
    return engine;
  };

  it("keeps the EWMA mean and variance of the standard incremental update", () => {
    const engine = warm();
    let mean = 2000;
    let v = 0;
    for (let i = 1; i < 10; i++) {
      const diff = (i % 2 ? 2100 : 2000) - mean;
      const incr = 0.1 * diff;
      mean += incr;
      v = 0.9 * (v + diff * incr);
    }
    expect(band(engine, 5)).toEqual({ n: 10, mean, v });
  });

  it("fires at |z| > k after the warm-up, with |z|, judged before the reading is folded in", () => {
    const { mean, v } = band(warm(), 5);
    const sd = Math.sqrt(v);
    const judge = (rpm: number) => warm().evaluate(reading({ event_time: at(20), speed: 59.9, rpm }));
    expect(judge(mean + 3 * sd - 0.01)).toEqual([]);
    expect(judge(mean - 3 * sd + 0.01)).toEqual([]);
    const above = judge(mean + 3 * sd + 0.01);
    expect(above).toHaveLength(1);
    expect(above[0]!.value).toBeCloseTo(3 + 0.01 / sd, 9);
    expect(above[0]!.threshold).toBe(3);
    expect(judge(mean - 3 * sd - 0.01)).toHaveLength(1);
  });

  it("does not fire during the warm-up, nor in a band without variance, nor in another band", () => {
    const engine = one(cond);
    for (let i = 0; i < 9; i++) engine.evaluate(reading({ event_time: at(i), speed: 55, rpm: i % 2 ? 2100 : 2000 }));
    expect(engine.evaluate(reading({ event_time: at(9), speed: 55, rpm: 9000 }))).toEqual([]);
    const flat = one(cond);
    for (let i = 0; i < 20; i++) flat.evaluate(reading({ event_time: at(i), speed: 55, rpm: 2000 }));
    expect(flat.evaluate(reading({ event_time: at(20), speed: 55, rpm: 2001 }))).toEqual([]);
    expect(warm().evaluate(reading({ event_time: at(20), speed: 60, rpm: 9000 }))).toEqual([]);
  });

  it("does not fold in a firing reading: a spike leaves the baseline as it was", () => {
    const engine = warm();
    const before = band(engine, 5);
    expect(engine.evaluate(reading({ event_time: at(20), speed: 55, rpm: 5000 }))).toHaveLength(1);
    expect(band(engine, 5)).toEqual(before);
    expect(engine.evaluate(reading({ event_time: at(21), speed: 55, rpm: 2050 }))).toEqual([]);
    expect(band(engine, 5).n).toBe(11);
  });

  it("skips late readings", () => {
    const engine = warm();
    const before = band(engine, 5);
    expect(engine.evaluate(reading({ event_time: at(9), speed: 55, rpm: 5000 }))).toEqual([]);
    expect(band(engine, 5)).toEqual(before);
  });
});

describe("scope", () => {
  it("evaluates a rule only on cars in its scope (every key must match, any value within a key)", () => {
    const engine = new RuleEngine([
      ruleRow("red_kias", { condition: FIRST_WAVE[0]!.condition, scope: { brands: ["Kia"], colors: ["Red", "Pink"] } }),
      ruleRow("car_7", { condition: FIRST_WAVE[0]!.condition, scope: { car_ids: [7] } }),
      ruleRow("corollas", { condition: FIRST_WAVE[0]!.condition, scope: { models: ["Corolla"] } }),
    ]);
    const fired = (p: Partial<EnrichedEvent>) => engine.evaluate(reading({ speed: 200, ...p })).map((f) => f.rule);
    expect(fired({ car_id: 1, brand_name: "Kia", color_name: "Red" })).toEqual(["red_kias"]);
    expect(fired({ car_id: 2, brand_name: "Kia", color_name: "Pink" })).toEqual(["red_kias"]);
    expect(fired({ car_id: 3, brand_name: "Kia", color_name: "red" })).toEqual([]);
    expect(fired({ car_id: 7, brand_name: "Mazda", color_name: "Red" })).toEqual(["car_7"]);
    expect(fired({ car_id: 8, brand_name: "Toyota", model_name: "Corolla" })).toEqual(["corollas"]);
    // A car repainted: its rules follow its attributes.
    expect(fired({ car_id: 1, brand_name: "Kia", color_name: "Blue" })).toEqual([]);
    expect(fired({ car_id: 1, brand_name: "Kia", color_name: "Pink" })).toEqual(["red_kias"]);
  });
});

describe("live rule changes (setRules)", () => {
  const stuck = ruleRow("stuck", { condition: { kind: "stuck_sensor", field: "rpm", readings: 3 } }, { id: "s" });
  const feed = (engine: RuleEngine, from: number, n: number) =>
    Array.from({ length: n }, (_, i) => engine.evaluate(reading({ event_time: at(from + i), rpm: 2000 })).map((f) => `${f.rule}:${f.value}`));

  it("keeps the state of rules whose id and version are unchanged; new ones start cold", () => {
    const engine = new RuleEngine([stuck]);
    expect(feed(engine, 0, 2)).toEqual([[], []]);
    const other = ruleRow("stuck_too", { condition: { kind: "stuck_sensor", field: "rpm", readings: 3 } }, { id: "t" });
    engine.setRules([other, { ...stuck, name: "stuck" }]);
    expect(feed(engine, 2, 3)).toEqual([["stuck:3"], ["stuck:4"], ["stuck_too:3", "stuck:5"]]);
  });

  it("drops the state of a changed version and of a removed rule", () => {
    const engine = new RuleEngine([stuck]);
    feed(engine, 0, 2);
    engine.setRules([{ ...stuck, version: 2 }]);
    expect(feed(engine, 2, 3)).toEqual([[], [], ["stuck:3"]]);
    engine.setRules([]);
    expect(feed(engine, 5, 1)).toEqual([[]]);
    expect(engine.snapshot()).toEqual([]);
    engine.setRules([{ ...stuck, version: 2 }]);
    expect(feed(engine, 6, 3)).toEqual([[], [], ["stuck:3"]]);
  });

  it("a disabled rule is removed; enabling it (a new version) starts it cold", () => {
    const engine = new RuleEngine([stuck]);
    feed(engine, 0, 2);
    engine.setRules([{ ...stuck, enabled: false, version: 2 }]);
    expect(feed(engine, 2, 3)).toEqual([[], [], []]);
    engine.setRules([{ ...stuck, version: 3 }]);
    expect(feed(engine, 5, 3)).toEqual([[], [], ["stuck:3"]]);
  });
});

describe("state: snapshot and restore", () => {
  const drive = enrichedDrive(3000, { cars: 8, everyMs: 600, seed: 3, rates: ANOMALIES });
  const json = (rows: RuleStateRow[]) => JSON.parse(JSON.stringify(rows)) as RuleStateRow[];

  it("the drive exercises every kind", () => {
    const fired = new Set(fire(new RuleEngine(ALL_KINDS), drive).map((f) => f.rule));
    expect([...fired].sort()).toEqual(ALL_KINDS.map((r) => r.name).sort());
  });

  it("a stream split anywhere, with snapshot → JSON → restore into a new engine between, fires exactly as one engine", () => {
    // Readings sometimes late or repeated, as a redelivery or a slow partition makes them.
    const perturbed = fc.array(fc.record({ at: fc.nat(drive.length - 1), back: fc.integer({ min: 1, max: 40 }) }), { maxLength: 30 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: drive.length - 1 }), perturbed, (split, moves) => {
        const stream = [...drive];
        for (const m of moves) stream.splice(Math.max(0, m.at - m.back), 0, stream[m.at]!);
        const whole = fire(new RuleEngine(ALL_KINDS), stream);
        const a = new RuleEngine(ALL_KINDS);
        const first = fire(a, stream.slice(0, split));
        const b = new RuleEngine(ALL_KINDS);
        b.restore(json(a.snapshot()));
        const rest = fire(b, stream.slice(split), 25, split);
        expect([...first, ...rest]).toEqual(whole);
      }),
      { seed: 20261202, numRuns: 40 },
    );
  });

  it("a car moved to another engine (a partition move) fires there as it would have on one engine", () => {
    const moved = 3;
    const split = 1500;
    const whole = fire(new RuleEngine(ALL_KINDS), drive).filter((f) => f.car_id === moved);
    const a = new RuleEngine(ALL_KINDS);
    const b = new RuleEngine(ALL_KINDS);
    const onA = fire(
      a,
      drive.filter((e, i) => e.car_id !== moved || i < split),
    );
    expect(b.hasState(moved)).toBe(false);
    b.restore(json(a.snapshot().filter((r) => r.car_id === moved)));
    expect(b.hasState(moved)).toBe(true);
    // B sees only the moved car's later readings, and the watermark as the stream moves it.
    const onB: RuleFiring[] = [];
    drive.forEach((e, i) => {
      if (i >= split && e.car_id === moved) onB.push(...b.evaluate(e));
      if (i >= split && i % 25 === 24) onB.push(...b.advance(e.event_time - 10_000));
    });
    expect([...onA.filter((f) => f.car_id === moved && f.event_time <= drive[split - 1]!.event_time), ...onB]).toEqual(whole);
    expect(whole.length).toBeGreaterThan(20);
  });

  it("replaying readings already folded in changes no state", () => {
    const engine = new RuleEngine(ALL_KINDS);
    fire(engine, drive.slice(0, 1000));
    const before = JSON.stringify(engine.snapshot());
    for (const e of drive.slice(500, 1000)) engine.evaluate(e);
    expect(JSON.stringify(engine.snapshot())).toBe(before);
  });

  it("dirtyOnly: only the cars changed since the last snapshot", () => {
    const engine = new RuleEngine(ALL_KINDS);
    fire(engine, drive.slice(0, 200));
    expect(new Set(engine.snapshot("dirty").map((r) => r.car_id)).size).toBe(8);
    expect(engine.snapshot("dirty")).toEqual([]);
    engine.evaluate(reading({ car_id: drive[0]!.car_id, event_time: drive[199]!.event_time + 1 }));
    const rows = engine.snapshot("dirty");
    expect(new Set(rows.map((r) => r.car_id))).toEqual(new Set([drive[0]!.car_id]));
    // Every stateful rule of the car, as_of its last reading.
    expect(rows.map((r) => r.rule_id).sort()).toEqual(["fast_for_10s", "harsh_acc", "harsh_brake", "rpm_baseline", "silent", "stuck_rpm"]);
    expect(rows.every((r) => r.as_of === drive[199]!.event_time + 1)).toBe(true);
  });

  it("restore ignores rows of another version, of an unknown rule, and of the wrong shape", () => {
    const engine = one({ kind: "stuck_sensor", field: "rpm", readings: 3 });
    const row = (p: Partial<RuleStateRow>): RuleStateRow => ({
      rule_id: "r",
      version: 1,
      car_id: 1,
      as_of: at(0),
      state: { value: 2000, moving: true, count: 2 },
      ...p,
    });
    engine.restore([row({ version: 2 }), row({ rule_id: "x" }), row({ car_id: 2, state: { count: "two" } })]);
    expect(engine.hasState(1)).toBe(false);
    expect(values(engine, [{ car_id: 2, event_time: at(1), rpm: 2000 }])).toEqual([null]);
    engine.restore([row({})]);
    expect(engine.hasState(1)).toBe(true);
    expect(
      values(engine, [
        { event_time: at(0), rpm: 2000 },
        { event_time: at(1), rpm: 2000 },
      ]),
    ).toEqual([null, 3]);
  });
});

describe("the simulator's anomalies, as the detectors see them", () => {
  const detectors = [
    ruleRow("harsh_brake", { condition: { kind: "harsh_braking", kmh_per_s: 25 } }),
    ruleRow("stuck_rpm", { condition: { kind: "stuck_sensor", field: "rpm", readings: 15 } }),
    ruleRow("silent", { condition: { kind: "silence", minutes: 2 } }),
    ruleRow("drift", { condition: { kind: "baseline", field: "rpm", k: 6, warmup: 100, alpha: 0.01, band_kmh: 5 } }),
  ];
  const counts = (rates: Partial<typeof ANOMALIES>) => {
    const drive = enrichedDrive(60_000, { cars: 20, everyMs: 100, rates: { speeding: 0, highRpm: 0, wrongGear: 0, ...rates } });
    const c: Record<string, number> = {};
    for (const f of fire(new RuleEngine(detectors), drive)) c[f.rule] = (c[f.rule] ?? 0) + 1;
    return c;
  };

  it("a drive without them sets off none but the odd baseline outlier", () => {
    const c = counts({});
    expect(c.harsh_brake ?? 0).toBe(0);
    expect(c.stuck_rpm ?? 0).toBe(0);
    expect(c.silent ?? 0).toBe(0);
    expect(c.drift ?? 0).toBeLessThan(20);
  });

  it.each([
    ["harshBraking", "harsh_brake", 20],
    ["stuckSensor", "stuck_rpm", 50],
    ["quietCar", "silent", 5],
    ["engineDrift", "drift", 200],
  ] as const)("%s episodes fire %s", (rate, rule, atLeast) => {
    expect(counts({ [rate]: 0.002 })[rule]).toBeGreaterThan(atLeast);
  });
});
