import { z } from "zod";
import type { DeadLetter, DeadLetterReason, EnrichedEvent, SensorEvent } from "../model/events.js";
import { expectedGear } from "../model/gear.js";
import { parseSensorMessage } from "../model/parse.js";
import { defineStage, type StageContext } from "../stage.js";
import { ENRICHED, SENSORS } from "../transport/topics.js";
import type { Envelope } from "../transport/transport.js";
import { consumeUntilStopped } from "./consume.js";
import { type CarInfo, DimsCache } from "./dims-cache.js";

const params = z.object({
  recoveryHorizonMinutes: z.number().positive().default(60).describe("at start: replay accepted readings of this many recent minutes that never reached cars_enriched"),
});

// Field by field, not by spreading: one object shape for every reading, which keeps this hot path fast.
function join(e: Omit<EnrichedEvent, keyof CarInfo | "expected_gear">, car: CarInfo): EnrichedEvent {
  return {
    event_id: e.event_id,
    event_time: e.event_time,
    car_id: e.car_id,
    speed: e.speed,
    rpm: e.rpm,
    gear: e.gear,
    driver_id: car.driver_id,
    brand_name: car.brand_name,
    model_name: car.model_name,
    color_name: car.color_name,
    expected_gear: expectedGear(e.speed),
  };
}

/** The same reading sent again: every value equal (the JSON text may differ). */
const sameReading = (a: SensorEvent, b: SensorEvent) =>
  a.event_time === b.event_time && a.car_id === b.car_id && a.speed === b.speed && a.rpm === b.rpm && a.gear === b.gear;

const conflict = (kept: SensorEvent) =>
  `event_id ${kept.event_id} was accepted already with other values (event_time ${new Date(kept.event_time).toISOString()}, car ${kept.car_id}); the first is kept`;

/**
 * In the embedded mode a crash loses what was queued in memory. Readings
 * already copied to cars_raw but missing from cars_enriched are replayed
 * once, at the first start in a process: the raw copy is the durable log.
 */
async function replayUnprocessed(ctx: StageContext<z.output<typeof params>>, dims: DimsCache): Promise<number> {
  const { lakehouse, transport } = ctx.deps;
  const last = await lakehouse.select<{ t: unknown }>("SELECT max(event_time) AS t FROM telemetry.cars_raw");
  if (last[0]?.t == null) return 0;
  const since = new Date(lakehouse.toMillis(last[0].t) - ctx.params.recoveryHorizonMinutes * 60_000);
  const rows = await lakehouse.select<{ json: string }>(
    `SELECT r.json FROM telemetry.cars_raw r
      WHERE r.event_time >= ? AND NOT EXISTS (SELECT 1 FROM telemetry.cars_enriched e WHERE e.event_time = r.event_time AND e.event_id = r.event_id)
      ORDER BY r.event_time`,
    [since],
  );
  const out = [];
  for (const { json } of rows) {
    const p = parseSensorMessage(json);
    const car = p.ok ? dims.get(p.event.car_id) : undefined;
    if (p.ok && car) out.push({ key: String(p.event.car_id), value: join(p.event, car) });
  }
  for (let i = 0; i < out.length; i += 1000) await transport.publish(ENRICHED, out.slice(i, i + 1000));
  return out.length;
}

export const enrichStage = defineStage({
  name: "enrich",
  kind: "streaming",
  description: "Validates readings from sensors-sample, joins car, driver, model and color, adds expected_gear, keeps a raw copy in telemetry.cars_raw; bad messages go to telemetry.dead_letters.",
  params,
  input: { topic: SENSORS, group: "enrich" },
  async run(ctx) {
    const { deps, counters, log } = ctx;
    const dims = new DimsCache(deps.lakehouse);
    await dims.load();
    const onDims = () => dims.invalidate();
    deps.events.on("dims-changed", onDims);
    try {
      if (ctx.firstStart && deps.transport.kind === "memory") {
        const replayed = await replayUnprocessed(ctx, dims);
        if (replayed > 0) log.warn({ replayed }, "replayed readings that were accepted but not processed before the last stop");
      }
      await consumeUntilStopped(ctx, SENSORS, "enrich", async (batch: Envelope<string>[]) => {
        const now = Date.now();
        counters.countIn(batch.length, now);
        const parsed = batch.map((m) => ({ m, p: parseSensorMessage(m.value, deps.settings.eventTime, now) }));
        await dims.refreshIfNeeded(parsed.some(({ p }) => p.ok && !dims.get(p.event.car_id)));
        // The first reading of an event_id in the batch is the one that counts; a later one is a duplicate
        // (the same values: resent) or a conflict (other values under a used id), never a second row.
        const first = new Map<string, { m: Envelope<string>; event: SensorEvent; car: CarInfo }>();
        const dead: DeadLetter[] = [];
        const letter = (m: Envelope<string>, reason: DeadLetterReason, detail: string): DeadLetter => ({ id: m.id, received_at: now, stage: "enrich", reason, detail, payload: m.value });
        let duplicates = 0;
        for (const { m, p } of parsed) {
          if (!p.ok) {
            dead.push(letter(m, p.reason, p.detail));
            continue;
          }
          const car = dims.get(p.event.car_id);
          if (!car) {
            dead.push(letter(m, "unknown_car", `car ${p.event.car_id} is not in dims.cars`));
            continue;
          }
          const seen = first.get(p.event.event_id);
          if (!seen) first.set(p.event.event_id, { m, event: p.event, car });
          else if (sameReading(seen.event, p.event)) duplicates++;
          else dead.push(letter(m, "conflicting_duplicate", conflict(seen.event)));
        }
        const raw = [...first.values()].map(({ m, event }) => ({ event_id: event.event_id, event_time: event.event_time, received_at: now, json: m.value }));
        // Insert-once by (event_time, event_id) and unique by event_id: a redelivered or resent reading adds no row.
        const fresh = new Set(
          (await deps.lakehouse.insertNew("cars_raw", raw, () => [{ table: "dead_letters", rows: dead }])).map((r) => r.event_id),
        );
        // Readings whose id was stored before: resent as they were (forwarded, see below), or conflicting.
        const known = [...first.values()].filter(({ event }) => !fresh.has(event.event_id));
        if (known.length > 0) {
          const stored = new Map(
            (
              await deps.lakehouse.select<{ event_id: string; json: string }>(
                `SELECT event_id, json FROM telemetry.cars_raw WHERE event_id IN (${known.map(() => "?").join(",")})`,
                known.map(({ event }) => event.event_id),
              )
            ).map((r) => [r.event_id, parseSensorMessage(r.json)]),
          );
          const conflicts: DeadLetter[] = [];
          for (const k of known) {
            const s = stored.get(k.event.event_id);
            if (s?.ok && sameReading(s.event, k.event)) continue;
            first.delete(k.event.event_id);
            conflicts.push(letter(k.m, "conflicting_duplicate", s?.ok ? conflict(s.event) : "event_id already stored"));
          }
          duplicates += known.length - conflicts.length;
          if (conflicts.length > 0) await deps.lakehouse.write([{ table: "dead_letters", rows: conflicts }]);
          dead.push(...conflicts);
        }
        if (duplicates > 0) deps.metrics?.duplicates.inc(duplicates);
        // Every valid reading goes on, also one already in cars_raw: a redelivered batch (Kafka, after a crash
        // between this commit and the produce) must still reach the alert stage, which keeps each reading once.
        const out = [...first.values()].map(({ event, car }) => ({ key: String(event.car_id), value: join(event, car) }));
        await deps.transport.publish(ENRICHED, out);
        counters.out += out.length;
        counters.deadLetters += dead.length;
        if (out.length > 0) counters.lastEventTime = out[out.length - 1]!.value.event_time;
      });
    } finally {
      deps.events.off("dims-changed", onDims);
    }
  },
});
