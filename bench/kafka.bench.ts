/**
 * npm run bench:kafka [-- --events 200000 --brokers host:port]: the pipeline
 * end to end over Kafka (SQLite stores), and in the same run, on the same
 * broker and message size, the ceilings it is measured against: a kafkajs
 * produce-only loop, a kafkajs consume-only loop (the same consumer settings
 * and commit-per-batch the stages use) and Kafka's own producer perf tool,
 * printed as ratios; then the event→alert latency at half the end-to-end rate.
 * Without --brokers it starts a broker with scripts/kafka/kafka.sh.
 */
import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { ALERTS } from "../pipeline/transport/topics.js";
import { promisify } from "node:util";
import { Partitioners } from "kafkajs";
import { silentLogger } from "../core/log.js";
import { seedCars } from "../pipeline/model/dims.js";
import { Fleet } from "../pipeline/model/fleet.js";
import { KAFKA_SH, randomPrefix, startBroker, type Broker } from "../test/support/kafka.js";
import { createKafkaPipeline } from "../test/support/kafka-pipeline.js";
import { TEST_SETTINGS } from "../test/support/pipeline.js";
import { type BenchPipeline, endToEnd, latency } from "./runs.js";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    brokers: { type: "string" },
    partitions: { type: "string", default: "6" },
    "latency-seconds": { type: "string", default: "10" },
  },
});
const N = Number(args.events);
const PARTITIONS = Number(args.partitions);
const START = Date.UTC(2026, 10, 28);
const settings = { fleetSize: 50, anomalies: { speeding: 0.002, highRpm: 0.001, wrongGear: 0.001, malformed: 0.002 } };
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

let broker: Broker | null = null;
const bootstrap = args.brokers ?? (broker = await startBroker()).bootstrap;

async function overKafka(extra: Partial<typeof settings> = {}): Promise<BenchPipeline> {
  const p = await createKafkaPipeline({ bootstrap, prefix: randomPrefix(), settings: { ...settings, ...extra }, partitions: PARTITIONS });
  return {
    p,
    drained: async (tap) => {
      await p.drained(600_000);
      if (tap) await p.transport.whenCaughtUp([[ALERTS, "bench"]]);
    },
  };
}

/** kafkajs alone: produce the same readings in batches of 1000 (same producer settings), then consume them. */
async function kafkajsCeilings(lines: string[]) {
  const p = await createKafkaPipeline({ bootstrap, prefix: randomPrefix(), settings, partitions: PARTITIONS });
  const t = p.transport;
  const topic = { name: "ceiling", encode: (s: string) => s, decode: (s: string) => s };
  const admin = t.client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: t.topicName(topic), numPartitions: PARTITIONS }] });
  for (;;) {
    try {
      await admin.fetchTopicOffsets(t.topicName(topic));
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await admin.disconnect();
  const keys = lines.map((l) => String((JSON.parse(l) as { car_id: number }).car_id));
  let t0 = performance.now();
  for (let i = 0; i < lines.length; i += 1000) {
    await t.publish(
      topic,
      lines.slice(i, i + 1000).map((value, j) => ({ key: keys[i + j]!, value })),
    );
  }
  const produce = lines.length / ((performance.now() - t0) / 1000);

  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  t0 = performance.now();
  const sub = await t.subscribe(topic, "ceiling", (batch) => {
    got += batch.length;
    if (got >= lines.length) done();
  });
  await all;
  const consume = lines.length / ((performance.now() - t0) / 1000);
  await sub.stop();
  await p.close();
  return { produce, consume };
}

/** Kafka's own ProducerPerformance (Java client, acks=all) with the same record size. */
async function perfCeiling(size: number) {
  const { stdout } = await promisify(execFile)("bash", [KAFKA_SH, "perf", bootstrap, `${randomPrefix()}perf`, String(N), String(size)], {
    env: { ...process.env, KAFKA_PERF_PARTITIONS: String(PARTITIONS) },
  });
  const m = /([\d.]+) records\/sec/.exec(stdout);
  return { rate: m ? Number(m[1]) : NaN, summary: stdout.trim() };
}

try {
  console.log(`carwatch kafka bench: ${fmt(N)} events, ${PARTITIONS} partitions, broker ${bootstrap}${broker ? " (started by kafka.sh)" : ""}, node ${process.version}`);
  console.log(`load average before: ${load()}`);
  const e2e = await endToEnd(await overKafka(), N, START);
  console.log(`\nend to end over Kafka: ${fmt(e2e.rate)} events/s (${e2e.seconds.toFixed(2)} s; generator done after ${e2e.produced.toFixed(2)} s)`);
  for (const [name, c] of Object.entries(e2e.stages)) if (c.in > 0) console.log(`  ${name.padEnd(10)} in ${fmt(c.in).padStart(9)}  out ${fmt(c.out).padStart(9)}  dead ${fmt(c.deadLetters)}`);
  console.log(`  rows: raw ${fmt(e2e.rows.raw)}, enriched ${fmt(e2e.rows.enriched)}, alerts ${fmt(e2e.rows.alerts)}, windows ${fmt(e2e.rows.windows)}`);

  const fleet = new Fleet(seedCars(50).map((c) => c.car_id), { ...TEST_SETTINGS.anomalies, malformed: 0 }, 1, START);
  const lines = Array.from({ length: N }, (_, i) => fleet.next(START + i).json);
  const size = Math.round(lines.reduce((a, l) => a + l.length, 0) / lines.length);
  const kjs = await kafkajsCeilings(lines);
  const perf = await perfCeiling(size);
  console.log(`\nceilings (same broker, ${size}-byte messages, same run):`);
  console.log(`  kafkajs produce-only      ${fmt(kjs.produce).padStart(11)} msgs/s   pipeline = ${(e2e.rate / kjs.produce).toFixed(3)}×`);
  console.log(`  kafkajs consume-only      ${fmt(kjs.consume).padStart(11)} msgs/s   pipeline = ${(e2e.rate / kjs.consume).toFixed(3)}×  (target ≥ 0.6×)`);
  console.log(`  kafka-producer-perf-test  ${fmt(perf.rate).padStart(11)} msgs/s   pipeline = ${(e2e.rate / perf.rate).toFixed(3)}×`);
  console.log(`    ${perf.summary}`);

  const rate = Math.max(100, Math.round(e2e.rate / 2));
  const lat = await latency(await overKafka({ anomalies: { ...settings.anomalies, speeding: 0.02 } }), rate, Number(args["latency-seconds"]));
  console.log(`\nevent→alert latency at ${fmt(rate)} events/s offered (half the end-to-end rate, wall clock, 3 Kafka hops + the tap):`);
  console.log(`  p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms over ${fmt(lat.alerts)} alerts (target p99 ≤ 100 ms)`);
  console.log(`\nend to end target ≥ 50,000 events/s: ${e2e.rate >= 50_000 ? "met" : "not met"}; load average after: ${load()} (2 cores shared with the broker and other work)`);
} finally {
  await broker?.destroy();
}
