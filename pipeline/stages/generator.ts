import { setImmediate as nextTick } from "node:timers/promises";
import { z } from "zod";
import { CarwatchError, StageError } from "../../core/errors.js";
import { tsWorker } from "../../core/ts-module.js";
import { anomalyRatesSchema } from "../model/fleet.js";
import { defineStage } from "../stage.js";
import { SENSORS } from "../transport/topics.js";
import type { FleetReply, FleetRequest } from "./fleet-worker.js";

const BATCH = 1000;

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
      // On Kafka the worker produces too, over its own connection: the produce's CPU leaves the pipeline's thread.
      wire: deps.transport.threadOptions,
      logLevel: deps.log.level,
    });
    const waiting = new Map<number, { resolve: (sent: number) => void; reject: (e: Error) => void }>();
    let failure: Error | null = null;
    let loaded!: { resolve: () => void; reject: (e: Error) => void };
    const ready = new Promise<void>((resolve, reject) => (loaded = { resolve, reject }));
    let closed!: () => void;
    const workerClosed = new Promise<void>((resolve) => (closed = resolve));
    /** Publishes in request order on the in-process bus (the worker keeps that order on Kafka). */
    let published: Promise<unknown> = Promise.resolve();
    const settle = (id: number, outcome: Error | Promise<number>) => {
      const w = waiting.get(id);
      waiting.delete(id);
      if (outcome instanceof Error) w?.reject(outcome);
      else outcome.then(w?.resolve, w?.reject);
    };
    worker.on("message", (m: FleetReply) => {
      if ("ready" in m) return loaded.resolve();
      if ("closed" in m) return closed();
      if ("error" in m) return settle(m.id, new CarwatchError("transport", `the generator's produce failed: ${m.error}`, { retriable: m.retriable }));
      if ("sent" in m) return settle(m.id, Promise.resolve(m.sent));
      const { keys, values } = m;
      const done = published.then(() =>
        deps.transport.publish(
          SENSORS,
          keys.map((key, i) => ({ key, value: values[i]! })),
        ),
      );
      published = done.catch(() => {});
      settle(
        m.id,
        done.then(() => keys.length),
      );
    });
    worker.on("error", (err) => {
      failure = err;
      loaded.reject(err);
      closed();
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    });
    let nextId = 0;
    let planned = 0;
    const step = 1000 / params.virtualRate;
    /** Has the worker simulate and send the next `n` readings, their times fixed now, in order; resolves with how many were sent. */
    const send = (n: number): Promise<number> => {
      const now = Date.now();
      const times = Array.from({ length: n }, (_, i) => (params.clock === "virtual" ? start + (planned + i) * step : now));
      planned += n;
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, times } satisfies FleetRequest);
      });
    };

    const rate = params.rate ?? deps.settings.generatorRate;
    const max = params.maxEvents ?? Number.POSITIVE_INFINITY;
    let emitted = 0;
    const count = (sent: number) => {
      emitted += sent;
      counters.countIn(sent);
      counters.out += sent;
      counters.lastEventTime = params.clock === "virtual" ? start + emitted * step : Date.now();
    };
    /** The batch asked for but not yet counted: counted even when stopping, since it is sent all the same. */
    let inFlight: Promise<number> | null = null;
    try {
      // Readings stamped before the simulator runs would carry its start-up time as latency.
      await ready;
      const t0 = Date.now();
      if (rate === 0) {
        // One batch is simulated while the previous one is published.
        inFlight = send(Math.min(BATCH, max));
        while (inFlight && !signal.aborted) {
          const sent = await inFlight;
          inFlight = planned < max ? send(Math.min(BATCH, max - planned)) : null;
          count(sent);
          // Let timers and I/O run between batches: the bus resolves on microtasks.
          await nextTick();
        }
        return;
      }
      while (!signal.aborted && emitted < max) {
        const due = Math.min(max, Math.floor(((Date.now() - t0) * rate) / 1000)) - emitted;
        if (due > 0) count(await send(Math.min(due, BATCH * 5)));
        else await new Promise((r) => setTimeout(r, Math.max(5, Math.min(200, 1000 / rate))));
      }
    } finally {
      const last = inFlight;
      if (last) await last.then(count, () => {});
      // The worker's own connection closes after its last produce; then the thread ends (a crashed worker has closed).
      worker.postMessage({ close: true } satisfies FleetRequest);
      await workerClosed;
      await worker.terminate();
    }
  },
});
