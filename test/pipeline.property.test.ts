/**
 * Generated drives (fast-check, fixed seed, bounded runs): whatever arrives,
 * every message is either enriched exactly once or dead-lettered with a
 * reason, nothing is half-stored, and the stages keep running. The corpus
 * (test/corpus/pipeline/readings.json) replays what once went wrong.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { DEAD_LETTER_REASONS, type SensorEvent } from "../domain/events.js";
import { parseSensorMessage } from "../pipeline/model/parse.js";
import { readingKey } from "../pipeline/model/reading-key.js";
import { SENSORS } from "../pipeline/transport/topics.js";
import { createPipeline, TEST_SETTINGS, type TestPipeline } from "./support/pipeline.js";

const BASE = Date.UTC(2026, 10, 28, 12, 0, 0);
const FLEET = TEST_SETTINGS.fleetSize;

/** One generated reading: a small id pool makes duplicates and conflicts common. */
interface Spec {
  id: number;
  car: number;
  /** ISO time, or "+1d" for a day after the wall clock. */
  at: string;
  speed?: unknown;
  mutation?: "none" | "truncate" | "drop_time" | "text_rpm" | "huge" | "array" | "extra";
  /** Wait for the pipeline to go idle before this one (a batch boundary). */
  batch?: boolean;
}

const uuid = (id: number) => `6f1c2a4e-9b1d-4c3e-8f00-${String(id).padStart(12, "0")}`;
function message(s: Spec, now: number): string {
  const at = s.at === "+1d" ? new Date(now + 86_400_000).toISOString() : s.at;
  const speed = s.speed ?? 50;
  const reading: Record<string, unknown> = { event_id: uuid(s.id), event_time: at, car_id: s.car, speed, rpm: 2381, gear: 3 };
  switch (s.mutation ?? "none") {
    case "truncate":
      return JSON.stringify(reading).slice(0, 30);
    case "drop_time":
      delete reading.event_time;
      return JSON.stringify(reading);
    case "text_rpm":
      return JSON.stringify({ ...reading, rpm: "high" });
    case "huge":
      return JSON.stringify({ ...reading, note: "x".repeat(100_000) });
    case "array":
      return JSON.stringify([reading]);
    case "extra":
      return JSON.stringify({ ...reading, "\u0000odd key": "🚗", nested: { deep: [1, 2, 3] } });
    default:
      return JSON.stringify(reading);
  }
}

const spec: fc.Arbitrary<Spec> = fc.record({
  id: fc.integer({ min: 1, max: 12 }),
  car: fc.integer({ min: 1, max: FLEET + 3 }),
  at: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 600_000 }).map((ms) => new Date(BASE + ms).toISOString()) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "+1d",
        "9999-12-31T23:59:59.000Z",
        "0000-01-01T00:00:00.000Z",
        "1990-01-01T00:00:00.000Z",
        "2026-11-28T12:00:00+05:30",
        "2026-02-30T12:00:00Z",
      ),
    },
  ),
  speed: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 200 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 401, 1e308, "fast", null) }),
  mutation: fc.oneof(
    { weight: 8, arbitrary: fc.constant("none" as const) },
    { weight: 3, arbitrary: fc.constantFrom("truncate", "drop_time", "text_rpm", "huge", "array", "extra") },
  ),
  batch: fc.boolean(),
});

const same = (a: SensorEvent, b: SensorEvent) => a.car_id === b.car_id && a.speed === b.speed && a.rpm === b.rpm && a.gear === b.gear;

/**
 * What must come out, decided message by message: a reading is its event_id
 * at its event_time; the first valid one of a key is stored, an identical one
 * later is a duplicate, other values under the key a dead letter.
 */
function oracle(values: string[], now: number) {
  const stored = new Map<string, SensorEvent>();
  let dead = 0;
  let duplicates = 0;
  for (const v of values) {
    const p = parseSensorMessage(v, TEST_SETTINGS.eventTime, now);
    if (!p.ok || p.event.car_id > FLEET) dead++;
    else {
      const first = stored.get(readingKey(p.event));
      if (!first) stored.set(readingKey(p.event), p.event);
      else if (same(first, p.event)) duplicates++;
      else dead++;
    }
  }
  return { stored, dead, duplicates };
}

let p: TestPipeline | undefined;
afterEach(async () => {
  await p?.close();
  p = undefined;
});

async function drive(specs: readonly Spec[]): Promise<void> {
  p = await createPipeline();
  await p.supervisor.start("seed");
  await p.supervisor.waitFor("seed");
  for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
  const now = Date.now();
  const values = specs.map((s) => message(s, now));
  let chunk: { key: string; value: string }[] = [];
  for (const [i, s] of specs.entries()) {
    if (s.batch && chunk.length > 0) {
      await p.transport.publish(SENSORS, chunk);
      await p.transport.whenIdle();
      chunk = [];
    }
    chunk.push({ key: String(s.car), value: values[i]! });
  }
  if (chunk.length > 0) await p.transport.publish(SENSORS, chunk);
  await p.transport.whenIdle();

  const want = oracle(values, now);
  const raw = p.lakehouse.selectSync<{ event_id: string; event_time: string }>(
    "SELECT event_id, event_time FROM telemetry.cars_raw ORDER BY event_id, event_time",
  );
  const enriched = p.lakehouse.selectSync<{ event_id: string; event_time: string }>(
    "SELECT event_id, event_time FROM telemetry.cars_enriched ORDER BY event_id, event_time",
  );
  // Never half-stored: every raw row has its enriched row, each key once.
  expect(enriched).toEqual(raw);
  const rawKeys = raw.map((r) => readingKey({ event_id: r.event_id, event_time: p!.lakehouse.toMillis(r.event_time) }));
  expect(new Set(rawKeys).size).toBe(raw.length);
  expect(rawKeys.sort()).toEqual([...want.stored.keys()].sort());
  // Every other message is a dead letter with a known reason and a detail.
  const dead = p.lakehouse.selectSync<{ reason: string; detail: string }>("SELECT reason, detail FROM telemetry.dead_letters");
  expect(dead).toHaveLength(want.dead);
  for (const d of dead) {
    expect(DEAD_LETTER_REASONS).toContain(d.reason);
    expect(d.detail.length).toBeGreaterThan(0);
  }
  expect(raw.length + dead.length + want.duplicates).toBe(specs.length);
  // The pipeline never stops.
  for (const s of ["enrich", "alert", "aggregate"]) expect(p.supervisor.status(s).state).toBe("running");
  await p.close();
  p = undefined;
}

describe("generated drives through the embedded pipeline", () => {
  it("enrich every message exactly once or dead-letter it, and never stop", async () => {
    await fc.assert(fc.asyncProperty(fc.array(spec, { minLength: 1, maxLength: 40 }), drive), { seed: 1313, numRuns: 30 });
  });

  const corpus = JSON.parse(readFileSync(new URL("./corpus/pipeline/readings.json", import.meta.url), "utf8")) as {
    cases: { name: string; readings: Spec[] }[];
  };
  it.each(corpus.cases.map((c) => [c.name, c.readings] as const))("corpus: %s", async (_name, readings) => drive(readings));
});
