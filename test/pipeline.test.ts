import { afterEach, describe, expect, it } from "vitest";
import { SENSORS } from "../pipeline/transport/topics.js";
import { expectExactRows, expectedRows } from "./support/expected.js";
import { createPipeline, type TestPipeline } from "./support/pipeline.js";
import { sensorMessage } from "./support/readings.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const N = 6000;
const RATE = 20; // simulated events per second: 6000 events span 5 minutes

async function runGenerator(p: TestPipeline, params: Record<string, unknown>) {
  for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
  await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: RATE, seed: 42, ...params });
  await p.supervisor.waitFor("generator");
  await p.transport.whenIdle();
}

describe("embedded pipeline, end to end", () => {
  it("turns a simulated drive into exact rows in every table", async () => {
    const want = expectedRows({ n: N, rate: RATE, seed: 42, start: START });
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    await runGenerator(p, { maxEvents: N });

    expect(p.count("dims.car_models")).toBe(7);
    expect(p.count("dims.car_colors")).toBe(7);
    expect(p.count("dims.cars")).toBe(20);
    expectExactRows(p.lakehouse, want);
    expect(Object.keys(want.dead)).toHaveLength(5);
    expect(want.rules.speeding).toBeGreaterThan(0);
    // Alerts are a minority, not noise.
    expect(want.alertEvents / want.valid).toBeLessThan(0.15);

    const windows = p.lakehouse.selectSync<{ color_counts: string; rule_counts: string }>("SELECT color_counts, rule_counts FROM telemetry.alert_windows");
    for (const w of windows) {
      expect(Object.keys(JSON.parse(w.color_counts))).toEqual(["Black", "Red", "Gray", "White", "Green", "Blue", "Pink"]);
      expect(Object.keys(JSON.parse(w.rule_counts))).toEqual(["speeding", "high_rpm", "wrong_gear"]);
    }
    expect(p.supervisor.status("enrich").counters).toMatchObject({ in: N, out: want.valid, deadLetters: N - want.valid });
  });

  it("counts each alert once in its incident when the store runs a transaction's derive step again (a busy retry after a rollback)", async () => {
    const want = expectedRows({ n: N, rate: RATE, seed: 42, start: START });
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    // As SQLite's busy answer inside a begun transaction does: a first attempt is derived, rolled back, and derived again.
    const insertNew = p.lakehouse.insertNew.bind(p.lakehouse);
    let retried = 0;
    p.lakehouse.insertNew = ((table, rows, derive) =>
      insertNew(
        table,
        rows,
        derive &&
          ((fresh) => {
            if (table === "cars_enriched") {
              derive(fresh);
              retried++;
            }
            return derive(fresh);
          }),
      )) as typeof p.lakehouse.insertNew;
    await runGenerator(p, { maxEvents: N });
    expect(retried).toBeGreaterThan(0);
    expectExactRows(p.lakehouse, want);
  });

  it("counts an alert for a window already closed as late, in the next window to close", async () => {
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
    const reading = (at: string, speed: number) => sensorMessage(3, `2026-11-28T${at}Z`, speed);
    const send = async (...readings: ReturnType<typeof reading>[]) => {
      await p.transport.publish(SENSORS, readings);
      await p.transport.whenIdle();
    };
    // 12:01:30 moves the watermark (10 s) past 12:01:00: the 12:00 window closes.
    await send(reading("12:00:05.000", 80), reading("12:01:30.000", 80));
    expect(p.count("telemetry.alert_windows")).toBe(1);
    // A speeding reading for 12:00, after that window closed; then 12:02:30 closes 12:01.
    await send(reading("12:00:30.000", 150));
    await send(reading("12:02:30.000", 80));
    expect(p.lakehouse.selectSync("SELECT rule, event_time FROM telemetry.alerts")).toEqual([{ rule: "speeding", event_time: "2026-11-28 12:00:30.000" }]);
    expect(p.lakehouse.selectSync("SELECT window_start, events, alert_events, late_events FROM telemetry.alert_windows ORDER BY window_start")).toEqual([
      { window_start: "2026-11-28 12:00:00.000", events: 1, alert_events: 0, late_events: 0 },
      { window_start: "2026-11-28 12:01:00.000", events: 1, alert_events: 0, late_events: 1 },
    ]);
  });

  it("refuses readings dated outside the intake's bounds, and windows keep closing around them", async () => {
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
    const send = async (...readings: { key: string; value: string }[]) => {
      await p.transport.publish(SENSORS, readings);
      await p.transport.whenIdle();
    };
    const dayAhead = new Date(Date.now() + 86_400_000).toISOString();
    await send(sensorMessage(3, "2026-11-28T12:00:05.000Z", 80));
    // A day ahead, the last day of year 9999 and year 0000: refused, none moves the watermark.
    await send(sensorMessage(4, dayAhead, 80), sensorMessage(5, "9999-12-31T23:59:59.000Z", 80), sensorMessage(6, "0000-01-01T00:00:00.000Z", 80));
    await send(sensorMessage(3, "2026-11-28T12:00:40.000Z", 80), sensorMessage(3, "2026-11-28T12:01:30.000Z", 80));
    await send(sensorMessage(3, "2026-11-28T12:02:30.000Z", 80));
    expect(p.lakehouse.selectSync("SELECT reason FROM telemetry.dead_letters ORDER BY rowid")).toEqual([
      { reason: "event_time_future" },
      { reason: "out_of_range" },
      { reason: "out_of_range" },
    ]);
    expect(p.lakehouse.selectSync("SELECT window_start, events, late_events FROM telemetry.alert_windows ORDER BY window_start")).toEqual([
      { window_start: "2026-11-28 12:00:00.000", events: 2, late_events: 0 },
      { window_start: "2026-11-28 12:01:00.000", events: 1, late_events: 0 },
    ]);
    // Every reading that has a raw row has its enriched row.
    expect(p.count("telemetry.cars_raw")).toBe(4);
    expect(p.count("telemetry.cars_enriched")).toBe(4);
  });

  it("stores a reading once by its event_id and event_time: resent is a duplicate, other values a conflict, another time another reading", async () => {
    p = await createPipeline();
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["alert", "enrich"]) await p.supervisor.start(s);
    const first = sensorMessage(3, "2026-11-28T12:00:05.000Z", 80);
    const value = JSON.parse(first.value) as Record<string, unknown>;
    const changed = { key: "3", value: JSON.stringify({ ...value, speed: 81 }) };
    const moved = { key: "3", value: JSON.stringify({ ...value, event_time: "2026-11-28T12:00:06.000Z" }) };
    const reordered = { key: "3", value: JSON.stringify(Object.fromEntries(Object.entries(value).reverse())) };
    // In one batch: the first wins, the changed copy conflicts; in later batches: a resend is a duplicate.
    await p.transport.publish(SENSORS, [first, changed, moved]);
    await p.transport.whenIdle();
    await p.transport.publish(SENSORS, [reordered, changed, moved]);
    await p.transport.whenIdle();
    expect(p.lakehouse.selectSync("SELECT event_time, json FROM telemetry.cars_raw ORDER BY event_time")).toEqual([
      { event_time: "2026-11-28 12:00:05.000", json: first.value },
      { event_time: "2026-11-28 12:00:06.000", json: moved.value },
    ]);
    expect(p.lakehouse.selectSync("SELECT event_time, speed FROM telemetry.cars_enriched ORDER BY event_time")).toEqual([
      { event_time: "2026-11-28 12:00:05.000", speed: 80 },
      { event_time: "2026-11-28 12:00:06.000", speed: 80 },
    ]);
    expect(p.lakehouse.selectSync("SELECT reason, payload FROM telemetry.dead_letters ORDER BY rowid")).toEqual([
      { reason: "conflicting_duplicate", payload: changed.value },
      { reason: "conflicting_duplicate", payload: changed.value },
    ]);
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
