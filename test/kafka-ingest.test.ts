import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type App, startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";

const TOKEN = "admin-token-for-the-kafka-ingest-test";

/** HTTP ingestion where the stages talk over Kafka: the answer comes once the produce is acknowledged. */
describeKafka("POST /api/v1/readings on Kafka", () => {
  let broker: Broker;
  let app: App;
  const dir = mkdtempSync(join(tmpdir(), "carwatch-kafka-ingest-"));
  beforeAll(async () => {
    broker = await startBroker();
    const config = loadConfig(
      {
        KAFKA_BROKERS: broker.bootstrap,
        KAFKA_TOPIC_PREFIX: randomPrefix(),
        KAFKA_PARTITIONS: "3",
        DATA_DIR: dir,
        HTTP_PORT: "0",
        CARWATCH_ROLES: "http,enrich,alert,aggregate",
        CARWATCH_ADMIN_TOKEN: TOKEN,
        LOG_LEVEL: "silent",
      },
      "/nonexistent/.env",
    );
    app = await startApp(config, silentLogger);
    await app.supervisor.start("seed");
    await app.supervisor.waitFor("seed");
  }, 600_000);
  afterAll(async () => {
    await app?.stop();
    await broker?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (lines: string[]) => {
    const r = await fetch(`${app.url}/api/v1/readings`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
      body: lines.join("\n"),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as { accepted: number; duplicates: number; rejected: { index: number; reason: string }[] };
  };
  const count = async (sql: string) => Number((await app.deps.lakehouse.select<{ n: number }>(sql))[0]!.n);

  it("produces accepted readings to sensors-sample, where the enrich stage stores them once; rejections and duplicates are answered at once", async () => {
    const good = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ event_id: randomUUID(), event_time: new Date(Date.now() - 2000).toISOString(), car_id: 1 + (i % 20), speed: 60, rpm: 2381, gear: 3 }),
    );
    const lines = [...good, "{oops", JSON.stringify({ event_id: randomUUID(), event_time: new Date().toISOString(), car_id: 9999, speed: 1, rpm: 1, gear: 1 })];
    const first = await post(lines);
    expect({ ...first, rejected: first.rejected.map((r) => [r.index, r.reason]) }).toEqual({
      accepted: 50,
      duplicates: 0,
      rejected: [
        [50, "malformed_json"],
        [51, "unknown_car"],
      ],
    });
    // Stored by the enrich stage from Kafka: wait for it (bounded), then the same batch is all duplicates.
    const deadline = Date.now() + 60_000;
    while ((await count("SELECT count(*) AS n FROM telemetry.cars_enriched")) < 50) {
      if (Date.now() > deadline) throw new Error("the readings never reached cars_enriched");
      await new Promise((r) => setTimeout(r, 100));
    }
    const again = await post(lines);
    expect({ accepted: again.accepted, duplicates: again.duplicates }).toEqual({ accepted: 0, duplicates: 50 });
    expect(await count("SELECT count(*) AS n FROM telemetry.cars_raw")).toBe(50);
    expect(await count("SELECT count(*) AS n FROM telemetry.cars_enriched")).toBe(50);
    // Each refused reading once, by its content, however often it was sent.
    expect(await count("SELECT count(*) AS n FROM telemetry.dead_letters WHERE stage = 'ingest'")).toBe(2);
  });
});
