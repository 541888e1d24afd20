import { setImmediate as nextTick } from "node:timers/promises";
import { z } from "zod";
import { anomalyRatesSchema, Fleet } from "../model/fleet.js";
import { defineStage } from "../stage.js";
import { SENSORS } from "../transport/topics.js";
import type { OutMessage } from "../transport/transport.js";

const BATCH = 1000;

export const generatorStage = defineStage({
  name: "generator",
  kind: "streaming",
  description: "Fleet simulator: every car drives (parked, accelerating, cruising, braking) and sends readings to sensors-sample, with injected anomalies and malformed messages.",
  params: z.object({
    rate: z.number().min(0).max(1_000_000).optional().describe("events per second; 0 = as fast as the pipeline takes them; default GENERATOR_RATE"),
    maxEvents: z.number().int().positive().optional().describe("stop after this many events"),
    seed: z.number().int().optional().describe("random seed; default: a new one per run, so event ids never repeat"),
    clock: z.enum(["wall", "virtual"]).default("wall").describe("event times from the wall clock, or simulated from startTime"),
    startTime: z.number().int().optional().describe("virtual clock: first event time, epoch ms"),
    virtualRate: z.number().positive().default(100).describe("virtual clock: events per simulated second"),
    anomalies: anomalyRatesSchema.partial().optional(),
  }),
  async run({ params, deps, counters, signal }) {
    const cars = await deps.lakehouse.select<{ car_id: number }>("SELECT car_id FROM dims.cars ORDER BY car_id");
    const start = params.startTime ?? Date.now();
    const fleet = new Fleet(
      cars.map((c) => Number(c.car_id)),
      anomalyRatesSchema.parse({ ...deps.settings.anomalies, ...params.anomalies }),
      params.seed ?? Math.floor(Math.random() * 2 ** 31),
      start,
    );
    const rate = params.rate ?? deps.settings.generatorRate;
    const max = params.maxEvents ?? Number.POSITIVE_INFINITY;
    const step = 1000 / params.virtualRate;
    let emitted = 0;
    const t0 = Date.now();

    const emit = async (n: number) => {
      const batch: OutMessage<string>[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const now = params.clock === "virtual" ? start + (emitted + i) * step : Date.now();
        const out = fleet.next(now);
        batch[i] = { key: String(out.car_id), value: out.json };
      }
      await deps.transport.publish(SENSORS, batch);
      emitted += n;
      counters.countIn(n);
      counters.out += n;
      counters.lastEventTime = params.clock === "virtual" ? start + emitted * step : Date.now();
    };

    while (!signal.aborted && emitted < max) {
      if (rate === 0) {
        await emit(Math.min(BATCH, max - emitted));
        // Let timers and I/O run between batches: the bus resolves on microtasks.
        await nextTick();
        continue;
      }
      const due = Math.min(max, Math.floor(((Date.now() - t0) * rate) / 1000)) - emitted;
      if (due > 0) await emit(Math.min(due, BATCH * 5));
      else await new Promise((r) => setTimeout(r, Math.max(5, Math.min(200, 1000 / rate))));
    }
  },
});
