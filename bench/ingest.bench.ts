/**
 * npm run bench:ingest [-- --readings 200000 --connections 4 --batch 500]:
 * readings/s into carwatch over HTTP (keep-alive, NDJSON batches, several
 * connections) and over MQTT (a real Mosquitto), each until every reading is
 * in cars_enriched, set against the embedded pipeline's end-to-end rate
 * measured in the same run; then the request latency at half the HTTP rate
 * and carwatch's peak RSS. carwatch runs as its own process (main.ts), so the
 * load generator's CPU is not charged to it.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { startCarwatch } from "../test/support/carwatch-process.js";
import { startMosquitto } from "../test/support/mosquitto.js";
import { createPipeline } from "../test/support/pipeline.js";
import { endToEnd } from "./runs.js";

const { values: args } = parseArgs({
  options: {
    readings: { type: "string", default: "200000" },
    connections: { type: "string", default: "4" },
    batch: { type: "string", default: "500" },
    "latency-seconds": { type: "string", default: "10" },
  },
});
const N = Number(args.readings);
const CONNECTIONS = Number(args.connections);
const BATCH = Number(args.batch);
const TOKEN = "bench-admin-token-0123456789";
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** NDJSON batches of fresh readings of 50 cars, dated just now. */
function batches(n: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < n; b += BATCH) {
    const lines: string[] = [];
    const now = Date.now();
    for (let i = b; i < Math.min(n, b + BATCH); i++) {
      lines.push(JSON.stringify({ event_id: randomUUID(), event_time: new Date(now - 1000).toISOString(), car_id: 1 + (i % 50), speed: 40 + (i % 70), rpm: 2400, gear: 3 }));
    }
    out.push(lines.join("\n"));
  }
  return out;
}

async function carwatch(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-bench-ingest-"));
  const { child, url } = await startCarwatch({ DATA_DIR: dir, CARWATCH_ROLES: "http,enrich,alert,aggregate", CARWATCH_ADMIN_TOKEN: TOKEN, ...env });
  let peakRss = 0;
  const rss = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.proc.pid}/status`, "utf8"))![1]) * 1024);
    } catch {
      // exited
    }
  }, 100);
  const enriched = async () => {
    const r = await fetch(`${url}/api/v1/tools/count_rows`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: '{"table":"telemetry.cars_enriched"}' });
    return ((await r.json()) as { result: { rows: number } }).result.rows;
  };
  return {
    url,
    enriched,
    /** Waits (polling the API, bounded) until `n` readings are enriched. */
    async drained(n: number) {
      const deadline = Date.now() + 600_000;
      while ((await enriched()) < n) {
        if (Date.now() > deadline) throw new Error("not drained within 10 minutes");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    peakRss: () => peakRss,
    async stop() {
      clearInterval(rss);
      child.proc.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const post = (url: string, body: string) =>
  fetch(`${url}/api/v1/readings`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" }, body }).then(async (r) => {
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
    return (await r.json()) as { accepted: number };
  });

/** Posts every batch over `CONNECTIONS` concurrent keep-alive requests. */
async function blast(url: string, bodies: readonly string[]): Promise<number> {
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < bodies.length) {
        const answer = await post(url, bodies[next++]!);
        accepted += answer.accepted;
      }
    }),
  );
  return accepted;
}

console.log(`carwatch ingest bench: ${fmt(N)} readings, HTTP batches of ${BATCH} on ${CONNECTIONS} connections, node ${process.version}`);

// The ceiling: the embedded pipeline end to end (simulator in the same process), same run.
const pipe = await createPipeline({ settings: { fleetSize: 50 } });
const e2e = await endToEnd({ p: pipe, drained: () => pipe.transport.whenIdle() }, N, Date.UTC(2026, 10, 28));
console.log(`\nembedded pipeline end to end: ${fmt(e2e.rate)} readings/s`);

const http = await carwatch();
const bodies = batches(N);
const t0 = performance.now();
const accepted = await blast(http.url, bodies);
await http.drained(accepted);
const httpRate = accepted / ((performance.now() - t0) / 1000);
console.log(`HTTP: ${fmt(httpRate)} readings/s into cars_enriched = ${(httpRate / e2e.rate).toFixed(2)}× the pipeline (target ≥ 0.7×); ${fmt(accepted)} accepted`);

// Request latency at half that rate: batches sent on a fixed schedule, each timed.
const rate = httpRate / 2;
const seconds = Number(args["latency-seconds"]);
const paced = batches(Math.round(rate * seconds));
const latencies: number[] = [];
const start = performance.now();
await Promise.all(
  paced.map(async (body, i) => {
    const due = start + ((i * BATCH) / rate) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const sent = performance.now();
    await post(http.url, body);
    latencies.push(performance.now() - sent);
  }),
);
latencies.sort((a, b) => a - b);
console.log(`HTTP request latency at ${fmt(rate)} readings/s (half the rate): p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${latencies.length} requests of ${BATCH} (target p99 ≤ 50 ms)`);
console.log(`carwatch's peak RSS over the HTTP runs: ${(http.peakRss() / 2 ** 20).toFixed(0)} MB (target ≤ 300 MB)`);
await http.stop();

// MQTT: one reading per message, QoS 1, to a real Mosquitto that carwatch subscribes to.
const broker = await startMosquitto().catch((err: Error) => {
  console.log(`MQTT: skipped (${err.message})`);
  return null;
});
if (broker) {
  const viaMqtt = await carwatch({ MQTT_URL: broker.url, MQTT_USERNAME: broker.username, MQTT_PASSWORD: broker.password, MQTT_CLIENT_ID: `bench-${randomUUID()}` });
  const client = await mqtt.connectAsync(broker.url, { username: broker.username, password: broker.password, clientId: `bench-pub-${randomUUID()}` });
  const lines = batches(N).flatMap((b) => b.split("\n"));
  const m0 = performance.now();
  let sent = 0;
  // A window of unacknowledged publishes, as a telematics gateway would keep.
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (sent < lines.length) {
        const line = lines[sent++]!;
        await client.publishAsync(`carwatch/${(JSON.parse(line) as { car_id: number }).car_id}/readings`, line, { qos: 1 });
      }
    }),
  );
  await viaMqtt.drained(lines.length);
  const mqttRate = lines.length / ((performance.now() - m0) / 1000);
  console.log(`MQTT: ${fmt(mqttRate)} readings/s into cars_enriched = ${(mqttRate / e2e.rate).toFixed(2)}× the pipeline (target ≥ 0.5×); carwatch's peak RSS ${(viaMqtt.peakRss() / 2 ** 20).toFixed(0)} MB`);
  await client.endAsync();
  await viaMqtt.stop();
  await broker.stop();
}
