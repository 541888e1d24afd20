/**
 * MQTT ingestion (pipeline/mqtt-ingest.ts) against a real Mosquitto broker
 * (test/support/mosquitto.ts): readings in through the same intake as HTTP,
 * each message acknowledged only once stored, nothing lost or doubled across
 * a carwatch restart. Every wait is on a condition with a deadline.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "../app.js";
import { loadConfig, redactedConfig } from "../core/config.js";
import { StoreError } from "../core/errors.js";
import { silentLogger } from "../core/log.js";
import { IntakeBusy } from "../domain/intake.js";
import { readingsOf } from "../domain/reading-bodies.js";
import { ReadingIntake } from "../pipeline/intake.js";
import { MQTT_TUNING, MqttIngest } from "../pipeline/mqtt-ingest.js";
import { topicCar, topicMatches } from "../pipeline/mqtt-topics.js";
import type { MemoryTransport } from "../pipeline/transport/memory.js";
import { spawnChild } from "./support/child.js";
import { describeMosquitto, type Mosquitto, startMosquitto } from "./support/mosquitto.js";

const load = (env: Record<string, string>) => loadConfig(env, "/nonexistent/.env");

/** Polls `check` until it holds; fails naming `what` after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reading = (o: Record<string, unknown> = {}) => ({
  event_id: randomUUID(),
  event_time: new Date(Date.now() - 5_000).toISOString(),
  car_id: 1,
  speed: 50,
  rpm: 2381,
  gear: 3,
  ...o,
});
/** A reading that relies on its topic for the car. */
const carless = (o: Record<string, unknown> = {}) => {
  const { car_id: _, ...r } = reading(o);
  return r;
};
const FAST = { ...MQTT_TUNING, minBackoffMs: 50, stopTimeoutMs: 500 };

describe("MQTT configuration", () => {
  it("is off without MQTT_URL and has defaults for the rest", () => {
    const c = load({});
    expect(c.MQTT_URL).toBeUndefined();
    expect(c.MQTT_TOPICS).toEqual(["carwatch/+/readings"]);
    expect(c.MQTT_CLIENT_ID).toBe("carwatch-ingest");
    expect(load({ MQTT_URL: "mqtts://broker.example.com:8883", MQTT_TOPICS: "a/+/b, $share/carwatch/carwatch/+/readings" }).MQTT_TOPICS).toEqual([
      "a/+/b",
      "$share/carwatch/carwatch/+/readings",
    ]);
  });

  it.each([
    ["MQTT_URL", "http://broker:1883"],
    ["MQTT_URL", "mqtt:/no-host"],
    ["MQTT_URL", "mqtt://user:secret@broker:1883"],
    ["MQTT_URL", "not a url"],
    ["MQTT_TOPICS", "carwatch/#/readings"],
    ["MQTT_TOPICS", "carwatch/car+/readings"],
    ["MQTT_TOPICS", "$share/carwatch"],
  ])("refuses %s=%s naming the variable", (name, value) => {
    expect(() => load({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it("redacts MQTT_PASSWORD and wants a user name with it", () => {
    expect(() => load({ MQTT_PASSWORD: "pw" })).toThrow(/^MQTT_USERNAME: required with MQTT_PASSWORD/);
    const c = load({ MQTT_URL: "mqtt://b:1883", MQTT_USERNAME: "u", MQTT_PASSWORD: "very-secret" });
    expect(redactedConfig(c).MQTT_PASSWORD).toBe("[set]");
    expect(JSON.stringify(redactedConfig(c))).not.toContain("very-secret");
  });

  it("reads the car from the topic's one + level, only when it is a positive integer", () => {
    const filters = ["carwatch/+/readings"];
    expect(topicCar(filters, "carwatch/17/readings")).toBe(17);
    expect(topicCar(filters, "carwatch/0/readings")).toBeNull();
    expect(topicCar(filters, "carwatch/017/readings")).toBeNull();
    expect(topicCar(filters, "carwatch/van-3/readings")).toBeNull();
    expect(topicCar(["$share/g/carwatch/+/readings"], "carwatch/5/readings")).toBe(5);
    expect(topicCar(["fleet/+/+/readings"], "fleet/1/2/readings")).toBeNull();
    expect(topicCar(["fleet/#", "fleet/+/readings"], "fleet/9/readings")).toBe(9);
    expect(topicMatches("carwatch/#", "carwatch/1/readings")).toBe(true);
    expect(topicMatches("+/x", "$SYS/x")).toBe(false);
    expect(topicMatches("carwatch/+/readings", "carwatch/1/readings/extra")).toBe(false);
  });

  it("splits a body into readings the way HTTP does, guessing NDJSON when the whole is not JSON", () => {
    expect(readingsOf('{"a":1}', "either")).toEqual(['{"a":1}']);
    expect(readingsOf('[{"a":1},{"b":2}]', "either")).toEqual(['{"a":1}', '{"b":2}']);
    expect(readingsOf('{"a":1}\n\n{broken\n', "either")).toEqual(['{"a":1}', "{broken"]);
    expect(readingsOf("", "either")).toEqual([]);
    expect(() => readingsOf("{broken", "json")).toThrow(SyntaxError);
  });
});

describeMosquitto("MQTT ingestion", () => {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-mqtt-"));
  const clientId = `carwatch-ingest-test-${process.pid}`;
  let broker: Mosquitto;
  let app: App;
  let pub: MqttClient;

  const start = async () => {
    const config = load({
      DATA_DIR: dir,
      CARWATCH_ROLES: "enrich,alert,aggregate",
      LOG_LEVEL: "silent",
      MQTT_URL: broker.url,
      MQTT_USERNAME: broker.username,
      MQTT_PASSWORD: broker.password,
      MQTT_CLIENT_ID: clientId,
    });
    const a = await startApp(config, silentLogger);
    await a.mqtt!.subscribed();
    return a;
  };
  const connect = (id: string) => mqtt.connectAsync(broker.url, { clientId: id, username: broker.username, password: broker.password, reconnectPeriod: 100 });

  beforeAll(async () => {
    broker = await startMosquitto();
    app = await start();
    pub = await connect(`publisher-${process.pid}`);
  });
  afterAll(async () => {
    await pub?.endAsync();
    await app?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (topic: string, payload: string) => pub.publishAsync(topic, payload, { qos: 1 });
  const count = async (table: string) => Number((await app.deps.lakehouse.select<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  const byReason = async () =>
    Object.fromEntries(
      (await app.deps.lakehouse.select<{ reason: string; n: number }>("SELECT reason, count(*) AS n FROM telemetry.dead_letters GROUP BY reason")).map((r) => [
        r.reason,
        Number(r.n),
      ]),
    );
  /** Waits until `n` more messages are acknowledged (so stored), then for the pipeline to go idle. */
  const settled = async (ackedBefore: number, n: number) => {
    await until(`${n} messages acknowledged`, () => app.mqtt!.status().acked >= ackedBefore + n);
    await (app.deps.transport as MemoryTransport).whenIdle();
  };

  it("stores good readings and dead-letters each bad one, with exact counts in every table, taking the car from the topic", async () => {
    const [raw0, enr0, dead0, reasons0, s0] = [
      await count("telemetry.cars_raw"),
      await count("telemetry.cars_enriched"),
      await count("telemetry.dead_letters"),
      await byReason(),
      app.mqtt!.status(),
    ];
    const good = reading({ car_id: 1 });
    const fromTopic = [carless(), carless(), carless()];
    const messages: [string, string][] = [
      ["carwatch/1/readings", JSON.stringify(good)],
      ["carwatch/2/readings", JSON.stringify([reading({ car_id: 2 }), fromTopic[0]])],
      ["carwatch/7/readings", `${JSON.stringify(fromTopic[1])}\n${JSON.stringify(fromTopic[2])}\n{not json\n`],
      ["carwatch/3/readings", JSON.stringify(reading({ car_id: 5 }))],
      ["carwatch/4242/readings", JSON.stringify(carless())],
      ["carwatch/fleet/readings", JSON.stringify(carless())],
      ["carwatch/0/readings", JSON.stringify(carless())],
      ["carwatch/1/readings", JSON.stringify(reading({ event_id: "not-a-uuid" }))],
      ["carwatch/1/readings", JSON.stringify(reading({ speed: 999 }))],
      ["carwatch/1/readings", JSON.stringify(reading({ event_time: new Date(Date.now() + 86_400_000).toISOString() }))],
      ["carwatch/1/readings", JSON.stringify(reading({ event_time: new Date(Date.now() - 30 * 86_400_000).toISOString() }))],
      ["carwatch/1/readings", JSON.stringify({ ...good, speed: 51 })],
      ["carwatch/1/readings", ""],
      ["carwatch/1/readings", "42"],
    ];
    for (const [topic, payload] of messages) await send(topic, payload);
    await settled(s0.acked, messages.length);

    expect(await count("telemetry.cars_raw")).toBe(raw0 + 5);
    expect(await count("telemetry.cars_enriched")).toBe(enr0 + 5);
    expect(await count("telemetry.dead_letters")).toBe(dead0 + 11);
    const reasons = await byReason();
    const added = Object.fromEntries(
      Object.entries(reasons)
        .map(([r, n]) => [r, n - (reasons0[r] ?? 0)])
        .filter(([, n]) => n !== 0),
    );
    expect(added).toEqual({
      malformed_json: 2, // "{not json" and "42"
      car_not_allowed: 1, // car 5's reading on car 3's topic
      unknown_car: 1, // car 4242, from its topic
      missing_field: 2, // no car_id, and a topic level that is not a car
      invalid_value: 1,
      out_of_range: 1,
      event_time_future: 1,
      event_time_past: 1,
      conflicting_duplicate: 1,
    });
    const [conflict] = await app.deps.lakehouse.select<{ detail: string; stage: string }>(
      "SELECT detail, stage FROM telemetry.dead_letters WHERE reason = 'car_not_allowed' AND id LIKE 'mqtt-%'",
    );
    expect(conflict).toEqual({ stage: "ingest", detail: "the topic carwatch/3/readings is car 3's, the reading says car_id 5" });
    const cars = await app.deps.lakehouse.select<{ event_id: string; car_id: number }>(
      `SELECT event_id, car_id FROM telemetry.cars_enriched WHERE event_id IN (${fromTopic.map(() => "?").join(",")})`,
      fromTopic.map((r) => r.event_id),
    );
    expect(Object.fromEntries(cars.map((c) => [c.event_id, Number(c.car_id)]))).toEqual({
      [fromTopic[0]!.event_id]: 2,
      [fromTopic[1]!.event_id]: 7,
      [fromTopic[2]!.event_id]: 7,
    });
    const s = app.mqtt!.status();
    expect([s.messages - s0.messages, s.acked - s0.acked, s.accepted - s0.accepted, s.rejected - s0.rejected, s.duplicates - s0.duplicates]).toEqual([
      14, 14, 5, 11, 0,
    ]);
    expect(s.connected).toBe(true);
  });

  it("stores a batch published twice (and again as an array) once", async () => {
    const [raw0, enr0, dead0, s0] = [
      await count("telemetry.cars_raw"),
      await count("telemetry.cars_enriched"),
      await count("telemetry.dead_letters"),
      app.mqtt!.status(),
    ];
    const batch = Array.from({ length: 10 }, () => carless());
    const ndjson = batch.map((r) => JSON.stringify(r)).join("\n");
    await send("carwatch/9/readings", ndjson);
    await send("carwatch/9/readings", ndjson);
    await send("carwatch/9/readings", JSON.stringify(batch));
    await settled(s0.acked, 3);
    expect(await count("telemetry.cars_raw")).toBe(raw0 + 10);
    expect(await count("telemetry.cars_enriched")).toBe(enr0 + 10);
    expect(await count("telemetry.dead_letters")).toBe(dead0);
    const s = app.mqtt!.status();
    expect([s.accepted - s0.accepted, s.duplicates - s0.duplicates]).toEqual([10, 20]);
  });

  it("acknowledges a message only after its batch is stored: one held in the store is sent again after a broker restart", async () => {
    const real = new ReadingIntake(app.deps);
    const calls: string[][] = [];
    let entered!: () => void;
    const inStore = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const intake = {
      async accept(values: readonly string[]) {
        calls.push([...values]);
        if (calls.length === 1) {
          entered();
          await gate;
        }
        return real.accept(values);
      },
    };
    const ingest = new MqttIngest(
      {
        url: broker.url,
        username: broker.username,
        password: broker.password,
        clientId: `gate-${process.pid}`,
        topics: ["gate/+/readings"],
        sessionExpirySeconds: 600,
      },
      { intake, lakehouse: app.deps.lakehouse, log: silentLogger },
      FAST,
    );
    ingest.start();
    try {
      await ingest.subscribed();
      const m1 = carless();
      await send("gate/4/readings", JSON.stringify(m1));
      await inStore;
      // The broker goes down and up while the batch is in the store: had carwatch acknowledged m1 on arrival,
      // the broker would have forgotten it. It has not, so it sends m1 again on the new connection.
      await broker.restart();
      await until("m1 redelivered", () => ingest.status().messages === 2);
      expect(ingest.status().acked).toBe(0);
      release();
      await until("the redelivery acknowledged", () => ingest.status().acked === 1);
      expect(calls).toEqual([[JSON.stringify({ ...m1, car_id: 4 })], [JSON.stringify({ ...m1, car_id: 4 })]]);
      expect(ingest.status()).toMatchObject({ accepted: 1, duplicates: 1, batches: 2 });

      // Acknowledged once stored: after another restart m1 does not come back, only what is new.
      await broker.restart();
      await until("reconnected", () => ingest.status().connected);
      const m2 = carless();
      await send("gate/4/readings", JSON.stringify(m2));
      await until("m2 acknowledged", () => ingest.status().acked === 2);
      expect(calls.map((c) => JSON.parse(c[0]!).event_id)).toEqual([m1.event_id, m1.event_id, m2.event_id]);
      const stored = await app.deps.lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_raw WHERE event_id IN (?, ?)", [
        m1.event_id,
        m2.event_id,
      ]);
      expect(Number(stored[0]!.n)).toBe(2);
    } finally {
      release();
      await ingest.stop();
    }
    await until("carwatch's own ingest reconnected", () => app.mqtt!.status().connected);
  });

  it("leaves a batch unacknowledged when the pipeline is busy or the store fails, and stores it once the broker sends it again", async () => {
    const real = new ReadingIntake(app.deps);
    const calls: string[][] = [];
    const intake = {
      async accept(values: readonly string[]) {
        calls.push([...values]);
        if (calls.length === 1) throw new IntakeBusy("the pipeline is 99999 readings behind; try again shortly", 0);
        if (calls.length === 2) throw new StoreError("disk I/O error", { retriable: true });
        return real.accept(values);
      },
    };
    const ingest = new MqttIngest(
      {
        url: broker.url,
        username: broker.username,
        password: broker.password,
        clientId: `busy-${process.pid}`,
        topics: ["busy/+/readings"],
        sessionExpirySeconds: 600,
      },
      { intake, lakehouse: app.deps.lakehouse, log: silentLogger },
      FAST,
    );
    ingest.start();
    try {
      await ingest.subscribed();
      const raw0 = await count("telemetry.cars_raw");
      const sent = [carless(), carless(), carless()];
      await Promise.all(sent.map((r) => send("busy/6/readings", JSON.stringify(r))));
      await until("all three acknowledged", () => ingest.status().acked === 3);
      const ids = (c: string[]) => c.map((v) => JSON.parse(v).event_id as string);
      // The first batch came back after each failure (a broker resends only on reconnecting, hence the dropped connections).
      // Each failed batch came back (a broker resends only on reconnecting, hence the dropped connections),
      // not necessarily as one batch again.
      expect(calls.length).toBeGreaterThanOrEqual(3);
      for (const k of [0, 1]) expect(calls.slice(k + 1).flatMap(ids)).toEqual(expect.arrayContaining(ids(calls[k]!)));
      expect(ingest.status().disconnects).toBeGreaterThanOrEqual(2);
      expect(ingest.status().lastError).toBeNull(); // connected again since
      expect(await count("telemetry.cars_raw")).toBe(raw0 + 3);
      expect(ingest.status().accepted).toBe(3);
    } finally {
      await ingest.stop();
    }
  });

  it("does not hang in stop() when the broker refuses the login, is unreachable, or never answers", async () => {
    const held: Socket[] = [];
    // Takes the TCP connection and never answers the CONNECT.
    const silent: Server = createServer((socket) => void held.push(socket.on("error", () => undefined)));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedUrl = `mqtt://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((r) => closed.close(r));
    const intake = { accept: async () => ({ accepted: 0, duplicates: 0, rejected: [] }) };
    const cases: { url: string; password: string; attempted: (i: MqttIngest) => boolean }[] = [
      { url: broker.url, password: "wrong", attempted: (i) => /Bad User Name or Password|Not authorized/.test(i.status().lastError ?? "") },
      { url: closedUrl, password: broker.password, attempted: (i) => /ECONNREFUSED/.test(i.status().lastError ?? "") },
      { url: `mqtt://127.0.0.1:${(silent.address() as { port: number }).port}`, password: broker.password, attempted: () => held.length > 0 },
    ];
    try {
      for (const c of cases) {
        const ingest = new MqttIngest(
          { url: c.url, username: broker.username, password: c.password, clientId: `refused-${process.pid}`, topics: ["x/+/y"], sessionExpirySeconds: 60 },
          { intake, lakehouse: app.deps.lakehouse, log: silentLogger },
          FAST,
        );
        ingest.start();
        await until(`${c.url}: a connection attempt`, () => c.attempted(ingest));
        expect(ingest.status().connected).toBe(false);
        const t0 = Date.now();
        await ingest.stop();
        expect(Date.now() - t0).toBeLessThan(200);
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
    // The whole process too: a broker that is down neither holds up the start nor the stop.
    const other = mkdtempSync(join(tmpdir(), "carwatch-mqtt-down-"));
    try {
      const down = await startApp(load({ DATA_DIR: other, CARWATCH_ROLES: "enrich,alert,aggregate", LOG_LEVEL: "silent", MQTT_URL: closedUrl }), silentLogger);
      await until("a connection attempt", () => down.mqtt!.status().lastError !== null);
      const t0 = Date.now();
      await down.stop();
      expect(down.mqtt!.status().connected).toBe(false);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  /** Telematics units, one per car, each publishing its next reading once the broker acknowledged the last (QoS 1). */
  function startUnits(prefix: string, cars: number[]) {
    const sent: string[] = [];
    let publishing = true;
    const running = cars.map(async (car) => {
      const unit = await connect(`unit-${prefix}-${car}-${process.pid}`);
      while (publishing) {
        const r = carless();
        await unit.publishAsync(`${prefix}/${car}/readings`, JSON.stringify(r), { qos: 1 });
        sent.push(r.event_id);
      }
      await unit.endAsync();
    });
    return {
      sent,
      async stop() {
        publishing = false;
        await Promise.all(running);
      },
    };
  }

  /** Each of `ids` is in the table exactly once (counted in chunks: SQLite's parameter limit). */
  async function expectEachOnce(a: App, table: string, ids: readonly string[]): Promise<void> {
    let found = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const [row] = await a.deps.lakehouse.select<{ n: number; d: number }>(
        `SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM ${table} WHERE event_id IN (${chunk.map(() => "?").join(",")})`,
        chunk,
      );
      expect(Number(row!.n)).toBe(Number(row!.d));
      found += Number(row!.n);
    }
    expect(found, table).toBe(ids.length);
  }

  it("loses and doubles nothing when carwatch stops and starts again while units keep publishing", async () => {
    const [raw0, enr0] = [await count("telemetry.cars_raw"), await count("telemetry.cars_enriched")];
    const units = startUnits("carwatch", [11, 12, 13, 14]);
    const acked0 = app.mqtt!.status().acked;
    await until("carwatch storing", () => app.mqtt!.status().acked >= acked0 + 300);
    await app.stop();
    const atStop = units.sent.length;
    await until("readings published while carwatch is down", () => units.sent.length >= atStop + 1000);
    app = await start();
    await until("carwatch storing again", () => app.mqtt!.status().acked >= 1500);
    await units.stop();
    const { sent } = units;

    await until("every reading in cars_raw", async () => (await count("telemetry.cars_raw")) >= raw0 + sent.length);
    await until("every reading in cars_enriched", async () => (await count("telemetry.cars_enriched")) >= enr0 + sent.length);
    await (app.deps.transport as MemoryTransport).whenIdle();
    const s = app.mqtt!.status();
    console.log(
      `stop/start: ${sent.length} published, ${sent.length - atStop} after the stop; after the start ${s.messages} messages, ${s.duplicates} duplicates`,
    );
    expect(await count("telemetry.cars_raw")).toBe(raw0 + sent.length);
    expect(await count("telemetry.cars_enriched")).toBe(enr0 + sent.length);
    await expectEachOnce(app, "telemetry.cars_raw", sent);
    await expectEachOnce(app, "telemetry.cars_enriched", sent);
  });

  it("loses and doubles nothing when carwatch is killed (SIGKILL) mid-stream", async () => {
    const crashDir = mkdtempSync(join(tmpdir(), "carwatch-mqtt-crash-"));
    const env = {
      DATA_DIR: crashDir,
      CARWATCH_ROLES: "enrich,alert,aggregate",
      LOG_LEVEL: "silent",
      MQTT_URL: broker.url,
      MQTT_USERNAME: broker.username,
      MQTT_PASSWORD: broker.password,
      MQTT_CLIENT_ID: `crash-${process.pid}`,
      MQTT_TOPICS: "crash/+/readings",
    };
    const child = spawnChild(["--import", "tsx", join(import.meta.dirname, "support/mqtt-child.ts")], { ...process.env, ...env });
    let again: App | null = null;
    try {
      await child.line((l) => l === "subscribed");
      const units = startUnits("crash", [21, 22, 23, 24]);
      await child.line((l) => l.startsWith("acked ") && Number(l.slice(6)) >= 500);
      child.proc.kill("SIGKILL");
      await child.exited;
      const atKill = units.sent.length;
      await until("readings published while carwatch is dead", () => units.sent.length >= atKill + 300);
      again = await startApp(load(env), silentLogger);
      await until("carwatch storing again", () => again!.mqtt!.status().acked >= 500);
      await units.stop();
      const { sent } = units;
      const stored = async (table: string) => Number((await again!.deps.lakehouse.select<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
      await until("every reading in cars_raw", async () => (await stored("telemetry.cars_raw")) >= sent.length);
      await until("every reading in cars_enriched", async () => (await stored("telemetry.cars_enriched")) >= sent.length);
      await (again.deps.transport as MemoryTransport).whenIdle();
      const s = again.mqtt!.status();
      console.log(
        `kill -9: ${sent.length} published, ${sent.length - atKill} after the kill; after the restart ${s.messages} messages, ${s.duplicates} duplicates`,
      );
      expect(await stored("telemetry.cars_raw")).toBe(sent.length);
      expect(await stored("telemetry.cars_enriched")).toBe(sent.length);
      await expectEachOnce(again, "telemetry.cars_raw", sent);
      await expectEachOnce(again, "telemetry.cars_enriched", sent);
    } finally {
      child.proc.kill("SIGKILL");
      await again?.stop();
      rmSync(crashDir, { recursive: true, force: true });
    }
  });
});
