import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/log.js";
import { createTransport } from "../pipeline/transport/index.js";
import type { Transport } from "../pipeline/transport/transport.js";
import { expectExactRows, expectedRows } from "./support/expected.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";
import { createKafkaPipeline, type KafkaPipeline } from "./support/kafka-pipeline.js";

const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const USER = "carwatch";
const PASSWORD = randomBytes(12).toString("hex");

/** The broker's SASL_SSL listener: a private CA, and PLAIN and SCRAM logins for USER. */
describeKafka("a secured Kafka cluster: SASL over TLS", () => {
  let broker: Broker;
  let p: KafkaPipeline | undefined;
  let t: Transport | undefined;
  beforeAll(async () => {
    broker = await startBroker({ secureUser: `${USER}:${PASSWORD}` });
  }, 600_000);
  afterEach(async () => {
    await p?.close();
    await t?.close();
    p = t = undefined;
  });
  afterAll(async () => broker?.destroy());

  const env = (extra: Record<string, string>) =>
    loadConfig({ KAFKA_BROKERS: broker.secure!.bootstrap, KAFKA_TOPIC_PREFIX: randomPrefix(), KAFKA_PARTITIONS: "3", ...extra }, "/nonexistent/.env");

  function capture() {
    const lines: string[] = [];
    const log = createLogger(
      "debug",
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    return { log, lines };
  }

  it("runs the whole pipeline over SASL_SSL (SCRAM-SHA-512, private CA) with exact rows in every table", async () => {
    const drive = { n: 3000, rate: 20, seed: 5, start: START };
    const want = expectedRows(drive);
    p = await createKafkaPipeline({
      bootstrap: broker.secure!.bootstrap,
      prefix: randomPrefix(),
      kafka: { ssl: { ca: [readFileSync(broker.secure!.caFile, "utf8")] }, sasl: { mechanism: "scram-sha-512", username: USER, password: PASSWORD } },
    });
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
    await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await p.supervisor.waitFor("generator");
    await p.drained();
    expectExactRows(p.lakehouse, want);
  });

  it("connects from the configuration (KAFKA_SSL_CA_FILE, SASL PLAIN) and never logs the password", async () => {
    const { log, lines } = capture();
    const config = env({ KAFKA_SSL_CA_FILE: broker.secure!.caFile, KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_USERNAME: USER, KAFKA_SASL_PASSWORD: PASSWORD });
    t = await createTransport(config, log);
    expect(t.kind).toBe("kafka");
    const connected = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "Kafka transport connected");
    expect(connected).toMatchObject({ tls: true, sasl: "plain" });
    expect(lines.join("\n")).not.toContain(PASSWORD);
  });

  it("refuses a broker certificate that does not verify at once, not after retrying", async () => {
    // KAFKA_SSL=true trusts Node's CAs only, which did not sign the test broker's certificate.
    const config = env({ KAFKA_SSL: "true", KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_USERNAME: USER, KAFKA_SASL_PASSWORD: PASSWORD });
    const err = await createTransport(config, capture().log).then(
      () => null,
      (e: unknown) => e as { origin: string; retriable: boolean; message: string },
    );
    expect(err).toMatchObject({ origin: "transport", retriable: false });
    expect(err!.message).toBe(
      `the certificate of Kafka broker ${broker.secure!.bootstrap} does not verify: self-signed certificate (signed by a private CA? set KAFKA_SSL_CA_FILE)`,
    );
  });

  it("refuses a wrong password at once, with an error that names the user and is not retriable", async () => {
    const config = env({
      KAFKA_SSL_CA_FILE: broker.secure!.caFile,
      KAFKA_SASL_MECHANISM: "scram-sha-256",
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD: "not-the-password",
    });
    const err = await createTransport(config, capture().log).then(
      () => null,
      (e: unknown) => e as { origin: string; retriable: boolean; message: string },
    );
    expect(err).toMatchObject({ origin: "transport", retriable: false });
    expect(err!.message).toMatch(/^the brokers refused the SASL scram-sha-256 login of "carwatch": /);
    expect(err!.message).not.toContain("not-the-password");
  });
});
