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
import { anomalyRatesSchema, Fleet, type FleetOutput } from "../pipeline/model/fleet.js";
import { startCarwatch } from "../test/support/carwatch-process.js";
import { startMosquitto } from "../test/support/mosquitto.js";
import { createPipeline, TEST_SETTINGS } from "../test/support/pipeline.js";
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

/**
 * The simulator's readings of 50 cars (the same fleet model, anomaly and
 * malformed rates as the pipeline run they are set against), dated over the
 * last minutes at 1,000 readings per second. Each call a new seed: new
 * event ids, so no run resends another's readings.
 */
let seed = 1;
function readings(n: number): FleetOutput[] {
  const start = Date.now() - n - 60_000;
  const fleet = new Fleet(
    Array.from({ length: 50 }, (_, i) => i + 1),
    anomalyRatesSchema.parse(TEST_SETTINGS.anomalies),
    seed++,
    start,
  );
  return Array.from({ length: n }, (_, i) => fleet.next(start + i));
}

/** NDJSON bodies of `BATCH` readings each. */
function batches(n: number): string[] {
  const all = readings(n);
  const out: string[] = [];
  for (let b = 0; b < n; b += BATCH)
    out.push(
      all
        .slice(b, b + BATCH)
        .map((r) => r.json)
        .join("\n"),
    );
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
  const count = async (table: string) => {
    const r = await fetch(`${url}/api/v1/tools/count_rows`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ table }),
    });
    return ((await r.json()) as { result: { rows: number } }).result.rows;
  };
  return {
    url,
    /** Waits (polling the API, bounded) until `n` readings are enriched or dead letters. */
    async drained(n: number) {
      const deadline = Date.now() + 600_000;
      while ((await count("telemetry.cars_enriched")) + (await count("telemetry.dead_letters")) < n) {
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
  fetch(`${url}/api/v1/readings`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" }, body }).then(
    async (r) => {
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      return (await r.json()) as { accepted: number; rejected: unknown[] };
    },
  );

/** Posts every batch over `CONNECTIONS` concurrent keep-alive requests. */
async function blast(url: string, bodies: readonly string[]): Promise<number> {
  let next = 0;
  let handled = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < bodies.length) {
        const answer = await post(url, bodies[next++]!);
        handled += answer.accepted + answer.rejected.length;
      }
    }),
  );
  return handled;
}

console.log(`carwatch ingest bench: ${fmt(N)} readings, HTTP batches of ${BATCH} on ${CONNECTIONS} connections, node ${process.version}`);

// The ceiling: the embedded pipeline end to end (simulator in the same process), same run.
const pipe = await createPipeline({ settings: { fleetSize: 50 } });
const e2e = await endToEnd({ p: pipe, drained: () => pipe.transport.whenIdle() }, N, Date.UTC(2026, 10, 28));
console.log(`\nembedded pipeline end to end: ${fmt(e2e.rate)} readings/s`);

const http = await carwatch();
const bodies = batches(N);
const t0 = performance.now();
const handled = await blast(http.url, bodies);
await http.drained(handled);
const httpRate = handled / ((performance.now() - t0) / 1000);
console.log(
  `HTTP: ${fmt(httpRate)} readings/s into cars_enriched (or dead letters) = ${(httpRate / e2e.rate).toFixed(2)}× the pipeline (target ≥ 0.7×); ${fmt(handled)} answered`,
);

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
console.log(
  `HTTP request latency at ${fmt(rate)} readings/s (half the rate): p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${latencies.length} requests of ${BATCH} (target p99 ≤ 50 ms)`,
);
console.log(`carwatch's peak RSS over the HTTP runs: ${(http.peakRss() / 2 ** 20).toFixed(0)} MB (target ≤ 300 MB)`);
await http.stop();

// MQTT: one reading per message, QoS 1, to a real Mosquitto that carwatch subscribes to.
const broker = await startMosquitto().catch((err: Error) => {
  console.log(`MQTT: skipped (${err.message})`);
  return null;
});
if (broker) {
  const viaMqtt = await carwatch({
    MQTT_URL: broker.url,
    MQTT_USERNAME: broker.username,
    MQTT_PASSWORD: broker.password,
    MQTT_CLIENT_ID: `bench-${randomUUID()}`,
  });
  const client = await mqtt.connectAsync(broker.url, { username: broker.username, password: broker.password, clientId: `bench-pub-${randomUUID()}` });
  const lines = readings(N);
  const m0 = performance.now();
  let sent = 0;
  // A window of unacknowledged publishes, as a telematics gateway would keep.
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (sent < lines.length) {
        const r = lines[sent++]!;
        await client.publishAsync(`carwatch/${r.car_id}/readings`, r.json, { qos: 1 });
      }
    }),
  );
  await viaMqtt.drained(lines.length);
  const mqttRate = lines.length / ((performance.now() - m0) / 1000);
  console.log(
    `MQTT: ${fmt(mqttRate)} readings/s into cars_enriched (or dead letters) = ${(mqttRate / e2e.rate).toFixed(2)}× the pipeline (target ≥ 0.5×); carwatch's peak RSS ${(viaMqtt.peakRss() / 2 ** 20).toFixed(0)} MB`,
  );
  await client.endAsync();
  await viaMqtt.stop();
  await broker.stop();
}
