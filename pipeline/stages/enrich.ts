import { z } from "zod";
import type { DeadLetter, EnrichedEvent } from "../model/events.js";
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
        const raw: { event_id: string; event_time: number; received_at: number; json: string }[] = [];
        const good = new Map<string, EnrichedEvent>();
        const dead: DeadLetter[] = [];
        for (const { m, p } of parsed) {
          if (!p.ok) {
            dead.push({ id: m.id, received_at: now, stage: "enrich", reason: p.reason, detail: p.detail, payload: m.value });
            continue;
          }
          const car = dims.get(p.event.car_id);
          if (!car) {
            dead.push({ id: m.id, received_at: now, stage: "enrich", reason: "unknown_car", detail: `car ${p.event.car_id} is not in dims.cars`, payload: m.value });
            continue;
          }
          raw.push({ event_id: p.event.event_id, event_time: p.event.event_time, received_at: now, json: m.value });
          good.set(p.event.event_id, join(p.event, car));
        }
        // Insert-once tables: a redelivered batch adds no row.
        await deps.lakehouse.write([
          { table: "cars_raw", rows: raw },
          { table: "dead_letters", rows: dead },
        ]);
        // Every valid reading goes on, also one already in cars_raw: a redelivered batch (Kafka, after a crash
        // between this commit and the produce) must still reach the alert stage, which keeps each reading once.
        const out = [...good.values()].map((e) => ({ key: String(e.car_id), value: e }));
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
