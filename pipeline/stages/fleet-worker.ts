/**
 * The fleet simulator on its own thread, so that simulating the cars (an
 * outside source in real life) does not take the pipeline's core. The stage
 * asks for batches of readings. On the in-process bus the worker answers
 * with the readings' JSON and the stage publishes them; on Kafka the worker
 * produces them itself, over its own connection, and answers with the count
 * once they are acknowledged, so the produce's CPU is on this thread too.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createLogger } from "../../core/log.js";
import { type AnomalyRates, Fleet } from "../model/fleet.js";
import type { KafkaThreadOptions, KafkaTransport } from "../transport/kafka.js";
import { SENSORS } from "../transport/topics.js";

export type FleetRequest = { id: number; times: number[] } | { close: true };
export type FleetReply =
  | { ready: true }
  | { id: number; keys: string[]; values: string[] }
  | { id: number; sent: number }
  | { id: number; error: string; retriable: boolean }
  | { closed: true };

const { carIds, rates, seed, start, wire, logLevel } = workerData as {
  carIds: number[];
  rates: AnomalyRates;
  seed: number;
  start: number;
  wire?: KafkaThreadOptions;
  logLevel: string;
};
const fleet = new Fleet(carIds, rates, seed, start);
const port = parentPort!;
const reply = (m: FleetReply) => port.postMessage(m);

let kafka: KafkaTransport | null = null;
if (wire) {
  // kafkajs loads only where Kafka is configured, as in the main thread.
  const { KafkaTransport } = await import("../transport/kafka.js");
  kafka = new KafkaTransport({ ...wire, topics: [SENSORS], producers: 1, log: createLogger(logLevel).child({ thread: "generator" }) });
  await kafka.connect();
}
/** Produces in request order: a car's readings stay in order while the next batch is simulated. */
let produced: Promise<unknown> = Promise.resolve();

// Loading this thread's modules (and connecting) takes a moment: the stage starts its clock only once the fleet is here.
reply({ ready: true });
port.on("message", (req: FleetRequest) => {
  if ("close" in req) {
    void produced.then(async () => {
      await kafka?.close();
      reply({ closed: true });
    });
    return;
  }
  const keys: string[] = new Array(req.times.length);
  const values: string[] = new Array(req.times.length);
  for (let i = 0; i < req.times.length; i++) {
    const out = fleet.next(req.times[i]!);
    keys[i] = String(out.car_id);
    values[i] = out.json;
  }
  if (!kafka) return reply({ id: req.id, keys, values });
  const to = kafka;
  produced = produced.then(() =>
    to
      .publish(
        SENSORS,
        keys.map((key, i) => ({ key, value: values[i]! })),
      )
      .then(
        () => reply({ id: req.id, sent: keys.length }),
        (err: Error & { retriable?: boolean }) => reply({ id: req.id, error: err.message, retriable: err.retriable ?? false }),
      ),
  );
});
