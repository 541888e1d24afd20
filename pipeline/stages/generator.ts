import { setImmediate as nextTick } from "node:timers/promises";
import { z } from "zod";
import { StageError } from "../../core/errors.js";
import { tsWorker } from "../../core/ts-module.js";
import { anomalyRatesSchema } from "../model/fleet.js";
import { defineStage } from "../stage.js";
import { SENSORS } from "../transport/topics.js";

const BATCH = 1000;

type Batch = { keys: string[]; values: string[] };

export const generatorStage = defineStage({
  name: "generator",
  kind: "streaming",
  description:
    "Fleet simulator: every car drives (parked, accelerating, cruising, braking) and sends readings to sensors-sample, with injected anomalies and malformed messages.",
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
    // The demo drives the seeded cars; once the operator's fleet is imported, it drives those (active ones only).
    const cars = await deps.lakehouse.select<{ car_id: number }>(
      `SELECT car_id FROM dims.cars WHERE retired_at IS NULL
          AND (origin = 'fleet' OR NOT EXISTS (SELECT 1 FROM dims.cars WHERE origin = 'fleet' AND retired_at IS NULL))
        ORDER BY car_id`,
    );
    if (cars.length === 0) throw new StageError("generator", "the fleet has no cars; run the seed stage first");
    const start = params.startTime ?? Date.now();
    // The simulation runs on a worker thread: the pipeline keeps this core.
    const worker = tsWorker(new URL("./fleet-worker.js", import.meta.url), {
      carIds: cars.map((c) => Number(c.car_id)),
      rates: anomalyRatesSchema.parse({ ...deps.settings.anomalies, ...params.anomalies }),
      seed: params.seed ?? Math.floor(Math.random() * 2 ** 31),
      start,
    });
    const waiting = new Map<number, { resolve: (b: Batch) => void; reject: (e: Error) => void }>();
    let failure: Error | null = null;
    let loaded!: { resolve: () => void; reject: (e: Error) => void };
    const ready = new Promise<void>((resolve, reject) => (loaded = { resolve, reject }));
    worker.on("message", (m: (Batch & { id: number }) | { ready: true }) => {
      if ("ready" in m) return loaded.resolve();
      waiting.get(m.id)?.resolve(m);
      waiting.delete(m.id);
    });
    worker.on("error", (err) => {
      failure = err;
      loaded.reject(err);
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    });
    let nextId = 0;
    let planned = 0;
    const step = 1000 / params.virtualRate;
    /** Asks the worker for the next `n` readings; their times are fixed now, in order. */
    const request = (n: number): Promise<Batch> => {
      const now = Date.now();
      const times = Array.from({ length: n }, (_, i) => (params.clock === "virtual" ? start + (planned + i) * step : now));
      planned += n;
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, times });
      });
    };

    const rate = params.rate ?? deps.settings.generatorRate;
    const max = params.maxEvents ?? Number.POSITIVE_INFINITY;
    let emitted = 0;
    const emit = async (b: Batch) => {
      await deps.transport.publish(
        SENSORS,
        b.keys.map((key, i) => ({ key, value: b.values[i]! })),
      );
      emitted += b.keys.length;
      counters.countIn(b.keys.length);
      counters.out += b.keys.length;
      counters.lastEventTime = params.clock === "virtual" ? start + emitted * step : Date.now();
    };
    try {
      // Readings stamped before the simulator runs would carry its start-up time as latency.
      await ready;
      const t0 = Date.now();
      if (rate === 0) {
        // One batch is simulated while the previous one is published.
        let next: Promise<Batch> | null = request(Math.min(BATCH, max));
        while (next && !signal.aborted) {
          const batch: Batch = await next;
          next = planned < max ? request(Math.min(BATCH, max - planned)) : null;
          await emit(batch);
          // Let timers and I/O run between batches: the bus resolves on microtasks.
          await nextTick();
        }
        // A batch asked for but not published when stopping is simply never sent.
        return;
      }
      while (!signal.aborted && emitted < max) {
        const due = Math.min(max, Math.floor(((Date.now() - t0) * rate) / 1000)) - emitted;
        if (due > 0) await emit(await request(Math.min(due, BATCH * 5)));
        else await new Promise((r) => setTimeout(r, Math.max(5, Math.min(200, 1000 / rate))));
      }
    } finally {
      await worker.terminate();
    }
  },
});
