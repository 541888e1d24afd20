import { createHash } from "node:crypto";
import mqtt, { type IConnackPacket, type IPublishPacket, type IStream, type MqttClient } from "mqtt";
import type { Config } from "../core/config.js";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { type DeadLetter, storedPayload } from "../domain/events.js";
import { IntakeBusy } from "../domain/intake.js";
import { readingsOf } from "../domain/reading-bodies.js";
import type { ReadingIntake } from "./intake.js";
import { topicCar } from "./mqtt-topics.js";
import type { Lakehouse } from "./stores/lakehouse.js";

export interface MqttIngestOptions {
  url: string;
  username?: string;
  password?: string;
  /** Fixed, so that the broker resumes the session (subscriptions, queued readings) after a restart. */
  clientId: string;
  topics: readonly string[];
  /** How long the broker keeps the session, and queues readings for it, while carwatch is away. */
  sessionExpirySeconds: number;
}

export interface MqttTuning {
  /** A batch is stored once its messages hold this many readings (messages are never split)… */
  batchReadings: number;
  /** …or once its first message has waited this long. */
  batchWaitMs: number;
  /**
   * Unacknowledged messages the broker may send at once (MQTT 5 Receive
   * Maximum): room for the batch being stored and the next one filling up.
   */
  receiveMaximum: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  connectTimeoutMs: number;
  /** How long stop() waits for the broker to take the DISCONNECT before dropping the connection. */
  stopTimeoutMs: number;
}

export const MQTT_TUNING: MqttTuning = {
  batchReadings: 500,
  batchWaitMs: 20,
  receiveMaximum: 1000,
  minBackoffMs: 500,
  maxBackoffMs: 30_000,
  connectTimeoutMs: 10_000,
  stopTimeoutMs: 2_000,
};

export interface MqttStatus {
  connected: boolean;
  /** Messages received; a redelivered one counts again. */
  messages: number;
  /** Messages acknowledged (PUBACK), each after its batch was stored. */
  acked: number;
  /** Readings, as the intake answered them. */
  accepted: number;
  duplicates: number;
  rejected: number;
  batches: number;
  /** Connections lost, including those dropped on purpose after a batch failed. */
  disconnects: number;
  lastError: string | null;
}

/** One message, held until its batch is stored. */
interface Held {
  /** The connection it came on: a packet id means nothing on another one. */
  stream: IStream;
  /** The packet id of a QoS 1 message; QoS 0 is never acknowledged. */
  messageId: number | undefined;
  values: string[];
  /** Its readings whose car_id contradicts the topic's car. */
  dead: DeadLetter[];
  at: number;
}

/** Given to handleMessage's callback, it makes mqtt.js skip its own PUBACK (and go on to the next packet). */
const DEFERRED = new Error("acknowledged once stored");
/** PUBACK, success, no properties: the same four bytes in MQTT 3.1.1 and 5 (5 §3.4.2.1). */
const puback = (id: number) => Buffer.from([0x40, 0x02, id >> 8, id & 0xff]);

/**
 * Readings from vehicle telematics units over MQTT, into the same
 * ReadingIntake as HTTP (one parser, the same dead letters and idempotency
 * by event_id). QoS 1 with a persistent session: a message is acknowledged
 * only after the intake stored its batch, so one the broker has not seen
 * acknowledged is sent again on the next connection — after a crash, a
 * restart, or a batch that failed (IntakeBusy, a store error: the connection
 * is dropped on purpose, since a broker redelivers only on reconnecting).
 *
 * mqtt.js acknowledges one message at a time and handles the next only then
 * (also with customHandleAcks, which it honours only for MQTT 5), which
 * rules out batching. So handleMessage tells it not to acknowledge, and the
 * PUBACKs of a stored batch are written here, in the order the messages
 * came, on the connection they came on.
 */
export class MqttIngest {
  private readonly counts: MqttStatus = {
    connected: false,
    messages: 0,
    acked: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    batches: 0,
    disconnects: 0,
    lastError: null,
  };
  private client: MqttClient | null = null;
  private held: Held[] = [];
  private heldReadings = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private storing: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Consecutive failures, for the backoff; reset by a stored batch or a connection that lived a minute. */
  private failures = 0;
  private connectedAt = 0;
  private everConnected = false;
  /** The delay a failed batch asked for before the next connection. */
  private retryDelayMs: number | null = null;
  private stopping: Promise<void> | null = null;
  private markSubscribed!: () => void;
  private readonly firstSubscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  constructor(
    private readonly o: MqttIngestOptions,
    private readonly deps: { intake: Pick<ReadingIntake, "accept">; lakehouse: Lakehouse; log: Logger },
    private readonly tuning: MqttTuning = MQTT_TUNING,
  ) {}

  /** Connects in the background: a broker that is down does not hold up the process, it is retried with backoff. */
  start(): void {
    const { url, username, password, clientId } = this.o;
    const client = mqtt.connect(url, {
      // MQTT 5 for Receive Maximum (3.1.1 leaves the unacknowledged window to the broker: 20 in Mosquitto) and an explicit session expiry.
      protocolVersion: 5,
      clientId,
      username,
      password,
      clean: false,
      properties: { sessionExpiryInterval: this.o.sessionExpirySeconds, receiveMaximum: this.tuning.receiveMaximum },
      // Reconnecting is done here: with backoff, and after the delay a failed batch asks for.
      reconnectPeriod: 0,
      connectTimeout: this.tuning.connectTimeoutMs,
      // Subscribed at every connect (below), which also picks up topics added to MQTT_TOPICS.
      resubscribe: false,
    });
    client.handleMessage = (packet, done) => {
      this.receive(packet, client.stream);
      done(DEFERRED);
    };
    client.on("connect", (connack) => this.onConnect(client, connack));
    client.on("close", () => this.onClose());
    client.on("error", (err) => {
      this.counts.lastError = errorMessage(err);
      this.deps.log.warn({ url, clientId, username, err: this.counts.lastError }, "MQTT connection failed");
    });
    client.on("disconnect", (packet) => {
      // 0x8E: another client connected with this id; two processes sharing one would take the session from each other in turn.
      const hint = packet.reasonCode === 0x8e ? `: another client uses MQTT_CLIENT_ID=${clientId}; give every process its own (or a $share/ filter)` : "";
      this.deps.log.warn({ reasonCode: packet.reasonCode, reason: packet.properties?.reasonString }, `the MQTT broker disconnected carwatch${hint}`);
    });
    this.client = client;
  }

  /** Resolves once the first subscription is in place (messages published from then on reach carwatch). */
  subscribed(): Promise<void> {
    return this.firstSubscribed;
  }

  status(): MqttStatus {
    return { ...this.counts };
  }

  /**
   * Stores and acknowledges the messages in hand, then disconnects (the
   * session stays on the broker). Messages arriving meanwhile stay
   * unacknowledged, for the next start. Does not wait for a broker that is
   * unreachable or silent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.storing;
    while (this.held.length > 0) {
      this.flush();
      await this.storing;
    }
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream.destroy();
        resolve();
      }, this.tuning.stopTimeoutMs);
      // A clean DISCONNECT goes after the PUBACKs just written; without a connection there is nothing to send.
      client.end(!client.connected, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    const { url, clientId, topics } = this.o;
    this.counts.connected = true;
    this.counts.lastError = null;
    this.connectedAt = Date.now();
    if (!connack.sessionPresent && this.everConnected)
      this.deps.log.warn({ url, clientId }, "the MQTT broker lost carwatch's session: readings published while disconnected may be gone");
    this.everConnected = true;
    this.deps.log.info({ url, clientId, sessionPresent: connack.sessionPresent }, "MQTT connected");
    // rh 1: retained messages only for a new subscription, not again at every reconnect.
    client.subscribe([...topics], { qos: 1, rh: 1 }, (err, granted) => {
      const refused = (granted ?? []).filter((g) => (g.qos & 0x80) !== 0).map((g) => g.topic);
      if (refused.length > 0) this.deps.log.error({ topics: refused }, "the MQTT broker refused these subscriptions (check its ACL)");
      if (granted && refused.length < granted.length) {
        this.deps.log.info({ topics: granted.filter((g) => (g.qos & 0x80) === 0).map((g) => g.topic) }, "MQTT subscribed");
        this.markSubscribed();
      } else if (err && !granted) this.deps.log.warn({ err: errorMessage(err) }, "MQTT subscribe failed");
    });
  }

  private onClose(): void {
    if (this.counts.connected) this.counts.disconnects++;
    this.counts.connected = false;
    // Their PUBACKs can no longer be sent: the broker sends these messages again on the next connection.
    this.held = [];
    this.heldReadings = 0;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.stopping) return;
    if (this.connectedAt > 0 && Date.now() - this.connectedAt >= 60_000) this.failures = 0;
    this.connectedAt = 0;
    const delay = this.retryDelayMs ?? this.backoff();
    this.retryDelayMs = null;
    this.deps.log.info({ retryInMs: delay }, "MQTT disconnected; reconnecting");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopping) this.client?.reconnect();
    }, delay);
  }

  private backoff(): number {
    return Math.min(this.tuning.maxBackoffMs, this.tuning.minBackoffMs * 2 ** Math.min(this.failures++, 16));
  }

  private receive(packet: IPublishPacket, stream: IStream): void {
    if (this.stopping) return;
    this.counts.messages++;
    const held: Held = { stream, messageId: packet.qos > 0 ? packet.messageId : undefined, values: [], dead: [], at: Date.now() };
    const car = topicCar(this.o.topics, packet.topic);
    for (const value of readingsOf(packet.payload.toString(), "either")) {
      if (car === null) held.values.push(value);
      else this.onCarTopic(held, value, car, packet.topic);
    }
    this.held.push(held);
    this.heldReadings += held.values.length;
    this.schedule();
  }

  /**
   * A reading on a topic that names its car: without a car_id it takes the
   * topic's. One that names another car is refused, not corrected: the topic
   * is what the broker's ACL vouches for (a unit may publish to its own car's
   * topic only), so a different car_id is a misconfigured or spoofing unit —
   * the case of an ingest token limited to some cars, hence car_not_allowed.
   */
  private onCarTopic(held: Held, value: string, car: number, topic: string): void {
    let json: unknown;
    try {
      json = JSON.parse(value);
    } catch {
      return void held.values.push(value); // the intake dead-letters it as malformed_json
    }
    const claimed = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as { car_id?: unknown }).car_id : null;
    if (claimed === undefined) held.values.push(JSON.stringify({ ...(json as object), car_id: car }));
    else if (typeof claimed === "number" && claimed !== car) {
      // Keyed by what was sent, so a redelivery adds no second row (dead_letters is insert-once by id).
      const id = `mqtt-${createHash("sha256").update(`${topic}\n${value}`).digest("hex").slice(0, 32)}`;
      held.dead.push({
        id,
        received_at: held.at,
        stage: "ingest",
        reason: "car_not_allowed",
        detail: `the topic ${topic} is car ${car}'s, the reading says car_id ${claimed}`,
        payload: storedPayload(value),
      });
    } else held.values.push(value);
  }

  /** One batch at a time (so PUBACKs go in the order messages came); the next one fills while it is stored. */
  private schedule(): void {
    if (this.storing || this.held.length === 0) return;
    if (this.heldReadings >= this.tuning.batchReadings) return this.flush();
    this.flushTimer ??= setTimeout(() => this.flush(), Math.max(0, this.held[0]!.at + this.tuning.batchWaitMs - Date.now()));
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.storing || this.held.length === 0) return;
    let n = 0;
    let readings = 0;
    while (n < this.held.length && readings < this.tuning.batchReadings) readings += this.held[n++]!.values.length;
    const batch = this.held.splice(0, n);
    this.heldReadings -= readings;
    this.storing = this.store(batch).finally(() => {
      this.storing = null;
      this.schedule();
    });
  }

  private async store(batch: Held[]): Promise<void> {
    const started = Date.now();
    try {
      const dead = batch.flatMap((m) => m.dead);
      if (dead.length > 0) await this.deps.lakehouse.write([{ table: "dead_letters", rows: dead }]);
      const values = batch.flatMap((m) => m.values);
      const answer = values.length > 0 ? await this.deps.intake.accept(values) : { accepted: 0, duplicates: 0, rejected: [] };
      this.counts.accepted += answer.accepted;
      this.counts.duplicates += answer.duplicates;
      this.counts.rejected += answer.rejected.length + dead.length;
      this.counts.batches++;
      this.failures = 0;
      // Rejected readings are acknowledged too: they are in telemetry.dead_letters.
      for (const m of batch) this.ack(m);
      this.deps.log.debug(
        { messages: batch.length, readings: values.length, ...answer, rejected: answer.rejected.length + dead.length, ms: Date.now() - started },
        "MQTT batch stored",
      );
    } catch (err) {
      this.counts.lastError = errorMessage(err);
      const gone = batch[0]?.stream !== this.client?.stream || batch[0]?.stream.destroyed;
      if (gone || this.stopping) return void this.deps.log.warn({ err: this.counts.lastError }, "MQTT batch not stored; the broker sends it again");
      this.retryDelayMs = err instanceof IntakeBusy ? Math.max(this.tuning.minBackoffMs, err.retryAfterSeconds * 1000) : this.backoff();
      this.deps.log.warn(
        { err: this.counts.lastError, retryInMs: this.retryDelayMs },
        "MQTT batch not stored; dropping the connection so that the broker sends it again",
      );
      // Later messages of this connection go unacknowledged too: PUBACKs must follow the order of the messages.
      this.client?.end(true);
    }
  }

  private ack(m: Held): void {
    if (m.messageId === undefined || m.stream !== this.client?.stream || m.stream.destroyed) return;
    m.stream.write(puback(m.messageId));
    this.counts.acked++;
  }
}

/**
 * The MQTT ingestion MQTT_URL asks for, started (connecting in the
 * background), or null: without MQTT_URL, or when this process takes no
 * readings (no enrich role, no Kafka to hand them to).
 */
export function startMqttIngest(config: Config, deps: { intake: ReadingIntake | null; lakehouse: Lakehouse; log: Logger }): MqttIngest | null {
  if (!config.MQTT_URL) return null;
  const { intake, lakehouse, log } = deps;
  if (!intake) {
    log.warn("MQTT_URL is set, but this process takes no readings (CARWATCH_ROLES has no enrich, and no Kafka): not subscribing");
    return null;
  }
  const ingest = new MqttIngest(
    {
      url: config.MQTT_URL,
      username: config.MQTT_USERNAME,
      password: config.MQTT_PASSWORD,
      clientId: config.MQTT_CLIENT_ID,
      topics: config.MQTT_TOPICS,
      // Readings older than EVENT_MAX_AGE_DAYS are refused anyway: a session need not outlive them.
      sessionExpirySeconds: Math.min(0xffff_ffff, Math.ceil(config.EVENT_MAX_AGE_DAYS * 86_400)),
    },
    { intake, lakehouse, log },
  );
  ingest.start();
  return ingest;
}
