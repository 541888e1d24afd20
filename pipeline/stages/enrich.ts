import { z } from "zod";
import { parseSensorMessage } from "../model/parse.js";
import { defineStage, type StageContext } from "../stage.js";
import { ENRICHED, SENSORS } from "../transport/topics.js";
import type { Envelope } from "../transport/transport.js";
import { consumeUntilStopped } from "./consume.js";
import type { DimsCache } from "./dims-cache.js";
import { Enricher, join } from "./enricher.js";

const params = z.object({
  recoveryHorizonMinutes: z
    .number()
    .positive()
    .default(60)
    .describe("at start: replay accepted readings of this many recent minutes that never reached cars_enriched"),
});

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
  description:
    "Validates readings from sensors-sample, joins car, driver, model and color, adds expected_gear, keeps a raw copy in telemetry.cars_raw; bad messages go to telemetry.dead_letters. On Kafka with alert in the same process, scores the readings in the same round (fused).",
  params,
  input: { topic: SENSORS, group: "enrich" },
  async run(ctx) {
    const { deps, counters, log } = ctx;
    const enricher = new Enricher(deps, "enrich");
    const dims = enricher.dims;
    await dims.load();
    const onDims = () => dims.invalidate();
    deps.events.on("dims-changed", onDims);
    try {
      if (ctx.firstStart && deps.transport.kind === "memory") {
        const replayed = await replayUnprocessed(ctx, dims);
        if (replayed > 0) log.warn({ replayed }, "replayed readings that were accepted but not processed before the last stop");
      }
      const hop = deps.fused;
      await consumeUntilStopped(
        ctx,
        SENSORS,
        "enrich",
        async (batch: Envelope<string>[], out) => {
          const now = Date.now();
          counters.countIn(batch.length, now);
          const stored = await enricher.store(batch, now);
          if (hop) {
            // Fused: scored here, in this round, so the readings' offsets commit only once their alerts are stored and sent.
            if (hop.produceEnriched) await out.publish(ENRICHED, stored.out);
            await (await hop.next(ctx.signal)).handle(stored.out, out);
          } else await out.publish(ENRICHED, stored.out);
          counters.out += stored.out.length;
          counters.deadLetters += stored.outcomes.filter((o) => o.kind === "rejected").length;
          if (stored.out.length > 0) counters.lastEventTime = stored.out[stored.out.length - 1]!.value.event_time;
        },
        // Fused, the round's samples-enriched and alert-data and its offsets commit in one transaction: outside readers
        // see each reading once. Without samples-enriched there is nothing the transaction would add: alert-data is
        // read as the split alert stage sends it (alerts of a redelivered reading sent again, its readers key by incident).
        hop && { transactional: hop.produceEnriched, onAssignment: (partitions) => hop.assign(partitions) },
      );
    } finally {
      deps.events.off("dims-changed", onDims);
    }
  },
});
