/**
 * npm run bench:kafka [-- --events 200000 --brokers host:port]: the pipeline
 * end to end over Kafka (SQLite stores) in three layouts — every stage in one
 * process (enrich and alert fused), the same without producing
 * samples-enriched (to print its cost), and the scale-out layout (the
 * generator here, enrich in one worker process, alert and aggregate in
 * another, talking over the topics) — with the CPU time each process and the
 * broker spent per event. In the same run, on the same broker and message
 * size, the ceilings it is measured against: a kafkajs produce-only and
 * consume-only loop (the stages' producer and consumer settings), Kafka's own
 * producer perf tool and the embedded pipeline, and every target of issue 16
 * as a ratio, with the CPU budget left. Then the event→alert latency at half
 * each layout's rate, with the one process's split by phase (produce round
 * trip, delivery, queued, handler, commit). Without --brokers it starts a
 * broker with scripts/kafka/kafka.sh (1 GB heap) and warms it up with an
 * unreported run first; with --brokers, BENCH_BROKER_PID names the broker's
 * process to charge its CPU time.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { seedCars } from "../pipeline/model/dims.js";
import { Fleet } from "../pipeline/model/fleet.js";
import type { KafkaPhase } from "../pipeline/transport/kafka.js";
import { ALERTS } from "../pipeline/transport/topics.js";
import type { Child } from "../test/support/child.js";
import { type Broker, KAFKA_SH, randomPrefix, startBroker } from "../test/support/kafka.js";
import { createKafkaPipeline, groupsSettled, type KafkaPipeline, spawnWorker } from "../test/support/kafka-pipeline.js";
import { createPipeline, TEST_SETTINGS } from "../test/support/pipeline.js";
import { type BenchPipeline, describeLatency, endToEnd, latency, WARM_UP_SECONDS } from "./runs.js";
import { insertCeiling } from "./sqlite-ceiling.js";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    brokers: { type: "string" },
    partitions: { type: "string", default: "6" },
    "latency-seconds": { type: "string", default: "20" },
  },
});
const N = Number(args.events);
const PARTITIONS = Number(args.partitions);
const START = Date.UTC(2026, 10, 28);
const CORES = availableParallelism();
const settings = { fleetSize: 50, anomalies: { speeding: 0.002, highRpm: 0.001, wrongGear: 0.001, malformed: 0.002 } };
// Latency runs with more anomalies, so there are enough alerts to take a 99th percentile of.
const latencySettings = { anomalies: { ...settings.anomalies, speeding: 0.05, wrongGear: 0.02 } };
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

// The tests' broker heap (384 MB) keeps its collector busy under this load: the bench's broker gets 1 GB.
process.env.KAFKA_HEAP_OPTS ??= "-Xms1g -Xmx1g";
let broker: Broker | null = null;
const bootstrap = args.brokers ?? (broker = await startBroker()).bootstrap;
/** The broker's JVM (its CPU time counts per event too): the one this run started, or BENCH_BROKER_PID's. */
const brokerPid = broker ? Number(readFileSync(join(broker.workdir, "kafka.pid"), "utf8")) : Number(process.env.BENCH_BROKER_PID) || undefined;

/** `onTiming`: the stages' phase timings, from this process's transport and (`at` given) from worker processes'. */
type Layout = { fused?: boolean; produceEnriched?: boolean; onTiming?: (phase: KafkaPhase, ms: number, group?: string, at?: number) => void };
const pipeline = (extra: Partial<typeof settings>, layout: Layout = {}) =>
  createKafkaPipeline({
    bootstrap,
    prefix: randomPrefix(),
    settings: { ...settings, ...extra },
    partitions: PARTITIONS,
    fused: layout.fused,
    produceEnriched: layout.produceEnriched,
    kafka: { onTiming: layout.onTiming },
  });

/** Each phase's durations (ms), from the transport's onTiming, by consumer group, with when they were reported. */
function phaseTimings() {
  const by = new Map<string, { at: number; ms: number }[]>();
  return {
    onTiming: (phase: KafkaPhase, ms: number, group?: string, at = Date.now()) => {
      const key = group ? `${group} ${phase}` : phase;
      let list = by.get(key);
      if (!list) by.set(key, (list = []));
      list.push({ at, ms });
    },
    /** Percentiles of what was reported from `since` (epoch ms) on: a line per consumer group (and process). */
    summary: (since: number) => {
      const lines = new Map<string, string[]>();
      for (const [key, all] of [...by].sort(([a], [b]) => a.localeCompare(b))) {
        const ms = all.filter((t) => t.at >= since).map((t) => t.ms);
        ms.sort((a, b) => a - b);
        const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? Number.NaN;
        const split = key.lastIndexOf(" ");
        const [group, phase] = split < 0 ? ["", key] : [key.slice(0, split), key.slice(split + 1)];
        const line = lines.get(group) ?? [];
        line.push(`${phase} p50 ${at(0.5).toFixed(1)} / p99 ${at(0.99).toFixed(1)} ms (${fmt(ms.length)})`);
        lines.set(group, line);
      }
      return [...lines].map(([group, parts]) => `    ${group || "publishes"}: ${parts.join("; ")}`);
    },
  };
}

/** Every stage's group has caught up, and with `tap` the latency tap's too. */
async function drained(p: KafkaPipeline, tap: boolean): Promise<void> {
  await p.drained(600_000);
  if (tap) await p.transport.whenCaughtUp([[ALERTS, "bench"]]);
}

/** Every stage in this process: enrich and alert fused (with samples-enriched produced unless the layout says not). */
async function oneProcess(extra: Partial<typeof settings> = {}, layout: Layout = {}): Promise<BenchPipeline> {
  const p = await pipeline(extra, { fused: true, ...layout });
  return {
    p,
    processes: () => ({ carwatch: process.pid, broker: brokerPid }),
    drained: (tap) => drained(p, tap),
    // Fused, the alert stage reads no topic of its own.
    joined: (groups) => groupsSettled(p.transport, ["enrich", "aggregate", ...groups], 1),
  };
}

/** The scale-out layout: seed and generator here; enrich, and alert with aggregate, each in a worker process (over samples-enriched). */
async function workerProcesses(extra: Partial<typeof settings> = {}, layout: Layout = {}): Promise<BenchPipeline> {
  const p = await pipeline(extra, { ...layout, fused: false });
  const workers: Child[] = [];
  const names = ["enrich worker", "alert worker"];
  // Timed (a latency run), each worker writes its phase timings at its stop, for the split by phase.
  const timings = (i: number) => join(p.dir, `timings-${i}.json`);
  const spawn = (i: number, roles: string[]) => spawnWorker(p, `bench-${roles[0]}`, roles, [], layout.onTiming ? { CARWATCH_TIMINGS_FILE: timings(i) } : {});
  return {
    p,
    async start() {
      await p.supervisor.start("seed");
      await p.supervisor.waitFor("seed");
      workers.push(spawn(0, ["enrich"]), spawn(1, ["alert", "aggregate"]));
      await Promise.all(workers.map((w) => w.line((l) => l === "ready")));
      await groupsSettled(p.transport, ["enrich", "alert", "aggregate"], 1);
    },
    processes: () => ({ generator: process.pid, enrich: workers[0]?.proc.pid, "alert+aggregate": workers[1]?.proc.pid, broker: brokerPid }),
    drained: (tap) => drained(p, tap),
    joined: (groups) => groupsSettled(p.transport, groups, 1),
    async stop() {
      for (const w of workers) w.proc.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.exited));
      if (layout.onTiming)
        workers.forEach((_, i) => {
          const rows = JSON.parse(readFileSync(timings(i), "utf8")) as [number, string, KafkaPhase, number][];
          for (const [at, group, phase, ms] of rows) layout.onTiming?.(phase, ms, `${names[i]}:${group ? ` ${group}` : ""}`, at);
        });
    },
  };
}

const LAYOUTS = {
  "one process": oneProcess,
  "one process, no samples-enriched": (extra: Partial<typeof settings> = {}, layout: Layout = {}) => oneProcess(extra, { ...layout, produceEnriched: false }),
  "three processes": workerProcesses,
};
type LayoutName = keyof typeof LAYOUTS;

/** kafkajs alone: produce the same readings in batches of 1000 (the stages' producer settings), then consume them; with CPU µs per message. */
async function kafkajsCeilings(lines: string[]) {
  const p = await pipeline({});
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
  const timed = async (loop: () => Promise<void>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await loop();
    const c = process.cpuUsage(c0);
    return { rate: lines.length / ((performance.now() - t0) / 1000), cpuMicros: (c.user + c.system) / lines.length };
  };
  const produce = await timed(async () => {
    for (let i = 0; i < lines.length; i += 1000) {
      await t.publish(
        topic,
        lines.slice(i, i + 1000).map((value, j) => ({ key: keys[i + j]!, value })),
      );
    }
  });
  let sub: Awaited<ReturnType<typeof t.subscribe>> | undefined;
  const consume = await timed(async () => {
    let got = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    sub = await t.subscribe(topic, "ceiling", (batch) => {
      got += batch.length;
      if (got >= lines.length) done();
    });
    await all;
  });
  await sub?.stop();
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

const micros = (seconds: number | null) => (seconds === null ? null : (seconds * 1e6) / N);
const showMicros = (us: number | null) => (us === null ? "n/a" : `${us.toFixed(0)} µs`);

const ratio = (x: number, target: number, atLeast = true) =>
  `${x.toFixed(2)}× (target ${atLeast ? "≥" : "≤"} ${target}×: ${(atLeast ? x >= target : x <= target) ? "met" : "not met"})`;

try {
  console.log(
    `carwatch kafka bench: ${fmt(N)} events, ${PARTITIONS} partitions, broker ${bootstrap}${broker ? " (started by kafka.sh)" : ""}, node ${process.version}, ${CORES} cores`,
  );
  console.log(`load average before: ${load()}`);
  // A fresh JVM compiles its hot paths during the first seconds of load: a short unreported run warms the broker first.
  await endToEnd(await oneProcess(), Math.min(N, 20_000), START);
  const runs = new Map<LayoutName, { rate: number; perEvent: number | null; cpu: (readonly [string, number | null])[] }>();
  for (const [layout, make] of Object.entries(LAYOUTS) as [LayoutName, typeof oneProcess][]) {
    const e2e = await endToEnd(await make(), N, START);
    console.log(
      `\nend to end over Kafka, ${layout}: ${fmt(e2e.rate)} events/s (${e2e.seconds.toFixed(2)} s; generator done after ${e2e.produced.toFixed(2)} s)`,
    );
    for (const [name, c] of Object.entries(e2e.stages))
      if (c.in > 0) console.log(`  ${name.padEnd(10)} in ${fmt(c.in).padStart(9)}  out ${fmt(c.out).padStart(9)}  dead ${fmt(c.deadLetters)}`);
    console.log(`  rows: raw ${fmt(e2e.rows.raw)}, enriched ${fmt(e2e.rows.enriched)}, alerts ${fmt(e2e.rows.alerts)}, windows ${fmt(e2e.rows.windows)}`);
    const cpu = Object.entries(e2e.cpuSeconds).map(([name, s]) => [name, micros(s)] as const);
    const known = cpu.every(([, us]) => us !== null);
    const perEvent = known ? cpu.reduce((a, [, us]) => a + us!, 0) : null;
    console.log(
      `  CPU per event: ${cpu.map(([name, us]) => `${name} ${showMicros(us)}`).join(", ")}${perEvent === null ? "" : ` = ${perEvent.toFixed(0)} µs`}`,
    );
    runs.set(layout, { rate: e2e.rate, perEvent, cpu });
  }
  const embedded = await createPipeline({ settings });
  const inProcess = await endToEnd({ p: embedded, drained: () => embedded.transport.whenIdle() }, N, START);
  console.log(`\nend to end embedded (in-process bus, same stores, same process): ${fmt(inProcess.rate)} events/s (${inProcess.seconds.toFixed(2)} s)`);

  const fleet = new Fleet(
    seedCars(50).map((c) => c.car_id),
    { ...TEST_SETTINGS.anomalies, malformed: 0 },
    1,
    START,
  );
  const lines = Array.from({ length: N }, (_, i) => fleet.next(START + i).json);
  const size = Math.round(lines.reduce((a, l) => a + l.length, 0) / lines.length);
  const kjs = await kafkajsCeilings(lines);
  const perf = await perfCeiling(size);
  const store = insertCeiling(lines);
  const one = runs.get("one process")!;
  const three = runs.get("three processes")!;
  const bare = runs.get("one process, no samples-enriched")!;
  console.log(`\nceilings (same broker, ${size}-byte messages, same run), against one process (${fmt(one.rate)} events/s):`);
  console.log(
    `  kafkajs produce-only      ${fmt(kjs.produce.rate).padStart(11)} msgs/s   pipeline = ${(one.rate / kjs.produce.rate).toFixed(3)}×   (${kjs.produce.cpuMicros.toFixed(1)} µs CPU per message)`,
  );
  console.log(
    `  kafkajs consume-only      ${fmt(kjs.consume.rate).padStart(11)} msgs/s   pipeline = ${(one.rate / kjs.consume.rate).toFixed(3)}×   (${kjs.consume.cpuMicros.toFixed(1)} µs CPU per message)`,
  );
  console.log(`  kafka-producer-perf-test  ${fmt(perf.rate).padStart(11)} msgs/s   pipeline = ${(one.rate / perf.rate).toFixed(3)}×`);
  console.log(`    ${perf.summary}`);
  console.log(
    `  better-sqlite3 insert     ${fmt(store.rate).padStart(11)} events/s pipeline = ${(one.rate / store.rate).toFixed(3)}×   (raw + enriched row: ${(1e6 / store.rate).toFixed(1)} µs CPU per event)`,
  );
  console.log(`  embedded pipeline         ${fmt(inProcess.rate).padStart(11)} events/s pipeline = ${(one.rate / inProcess.rate).toFixed(3)}×`);
  console.log(
    `  samples-enriched costs ${fmt(bare.rate - one.rate)} events/s (${fmt(bare.rate)} without it)${one.perEvent !== null && bare.perEvent !== null ? ` and ${(one.perEvent - bare.perEvent).toFixed(0)} µs of CPU per event` : ""}`,
  );

  // Fused, a reading is produced twice (sensors-sample by the generator, samples-enriched) and consumed once; two rows.
  const floor = 2 * kjs.produce.cpuMicros + kjs.consume.cpuMicros + 1e6 / store.rate;
  console.log(`\nCPU budget on this machine (${CORES} cores = ${fmt(CORES * 1e6)} µs of CPU per second):`);
  console.log(`  50,000 events/s leaves ${((CORES * 1e6) / 50_000).toFixed(0)} µs of CPU per event for everything: carwatch, the broker and the store.`);
  console.log(
    `  one process: kafkajs (2 produces + 1 consume) and the two rows alone take ${floor.toFixed(0)} µs per event: at most ${fmt((CORES * 1e6) / floor)} events/s, with nothing else running.`,
  );
  for (const [layout, r] of runs)
    if (r.perEvent !== null)
      console.log(
        `  ${layout}: ${r.perEvent.toFixed(0)} µs per event measured (${r.cpu.map(([n, us]) => `${n} ${showMicros(us)}`).join(" + ")}) → at most ${fmt((CORES * 1e6) / r.perEvent)} events/s with both cores busy; ran at ${fmt(r.rate)}; ${r.perEvent <= 40 ? `${(40 - r.perEvent).toFixed(0)} µs left of the 40 µs target` : `${(r.perEvent - 40).toFixed(0)} µs over the 40 µs target`}.`,
      );

  console.log("");
  const p99s: [LayoutName, number][] = [];
  for (const layout of ["one process", "one process, no samples-enriched", "three processes"] as const) {
    const r = runs.get(layout)!;
    const rate = Math.max(100, Math.round(r.rate / 2));
    const phases = phaseTimings();
    const lat = await latency(await LAYOUTS[layout](latencySettings, { onTiming: phases.onTiming }), rate, Number(args["latency-seconds"]));
    console.log(`event→alert latency, ${layout}, at ${fmt(rate)} events/s offered (half its end-to-end rate; wall clock, to the tap on alert-data):`);
    console.log(`  ${describeLatency(lat)} (target p99 ≤ 100 ms)`);
    console.log(`  where the milliseconds go, after the first ${WARM_UP_SECONDS} s:\n${phases.summary(lat.steadyFrom).join("\n")}`);
    p99s.push([layout, lat.p99]);
  }

  console.log("\ntargets (issue 16), as ratios in this run:");
  // The one-process targets for both settings of KAFKA_PRODUCE_ENRICHED (default on).
  for (const [layout, r] of [
    ["one process", one],
    ["one process, no samples-enriched", bare],
  ] as const) {
    console.log(`  ${layout} / kafkajs produce-only: ${ratio(r.rate / kjs.produce.rate, 0.6)}`);
    console.log(`  Kafka ${layout} / embedded: ${ratio(r.rate / inProcess.rate, 0.4)}`);
    if (r.perEvent !== null)
      console.log(`  CPU per reading, ${layout}, carwatch + broker: ${r.perEvent.toFixed(0)} µs (target ≤ 40 µs: ${r.perEvent <= 40 ? "met" : "not met"})`);
  }
  console.log(`  three processes / one process: ${ratio(three.rate / one.rate, 0.8)}`);
  for (const [layout, p99] of p99s)
    console.log(
      `  event→alert p99 at half rate after the first ${WARM_UP_SECONDS} s, ${layout}: ${p99} ms (target ≤ 100 ms: ${p99 <= 100 ? "met" : "not met"})`,
    );
  console.log(`load average after: ${load()} (${CORES} cores shared with the broker and other work)`);
} finally {
  await broker?.destroy();
}
