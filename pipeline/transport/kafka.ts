import { isIP } from "node:net";
import { hostname } from "node:os";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
  type TopicMessages,
  type Transaction,
} from "kafkajs";
import { errorMessage } from "../../core/errors.js";
import type { Logger } from "../../core/log.js";
import { kafkaFailure, TransportError } from "./kafka-errors.js";
import { type PartitionBatch, plainSink, type RoundPhase, type RoundSink, Rounds } from "./kafka-rounds.js";
import { ALL_TOPICS, DEAD_LETTERS, type DeadLetterMessage, DecodeError } from "./topics.js";
import type { BatchHandler, OutMessage, SubscribeOptions, Subscription, Topic, Transport } from "./transport.js";

export interface KafkaTransportOptions {
  brokers: string[];
  log: Logger;
  clientId?: string;
  /** Prepended to every topic and consumer group name (several deployments or tests on one cluster). */
  topicPrefix?: string;
  /** Partitions of the topics created at start (existing topics are left as they are). */
  partitions?: number;
  /** Replication factor of created topics; -1 = the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Topics to create when missing; default every carwatch topic. */
  topics?: readonly Topic<unknown>[];
  /** Consumer tuning; defaults suit a stream processor (fast failover, short fetch waits). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxWaitTimeInMs?: number;
  /** A fetch returns once this many bytes are there (or after maxWaitTimeInMs): bigger batches, fewer requests. */
  minBytes?: number;
  /** Producers publish goes through (default 3). */
  producers?: number;
  /** How long to wait at start for the cluster and the topics' leaders. */
  connectTimeoutMs?: number;
  /** TLS to the brokers: true = Node's trusted CAs; or Node TLS options (e.g. `ca` for a private CA). */
  ssl?: boolean | ConnectionOptions;
  /** SASL login (PLAIN or SCRAM), over TLS on any cluster that is not a test rig. */
  sasl?: Extract<SASLOptions, { mechanism: "plain" | "scram-sha-256" | "scram-sha-512" }>;
  /**
   * This process's name in transactional ids (default host and pid). A stable one (per worker) lets a restarted
   * process fence its predecessor's open transaction at once instead of after the transaction timeout.
   */
  instanceId?: string;
  /**
   * Where the milliseconds go, for the bench and metrics: each produce's round trip, each batch's delivery delay and
   * each round's phases (these two with the consumer group, as carwatch names it: "enrich").
   */
  onTiming?: (phase: KafkaPhase, ms: number, group?: string) => void;
}

/** produce: a publish's round trip; delivery: from the oldest message's send to its batch reaching the consumer; then the round's phases. */
export type KafkaPhase = "produce" | "delivery" | RoundPhase;

/** What another thread needs to open its own connection to the same cluster and topics. */
export type KafkaThreadOptions = Omit<KafkaTransportOptions, "log" | "onTiming">;

/** A transactional producer's transactions end after this without a commit (a process killed mid-round), so readers do not wait longer. */
const TRANSACTION_TIMEOUT_MS = 10_000;

/** Producer settings every carwatch producer shares. */
const PRODUCER: ProducerConfig = {
  createPartitioner: Partitioners.DefaultPartitioner,
  allowAutoTopicCreation: false,
  // Idempotent: a produce retried after a lost acknowledgement (leader change, broker restart) is not written twice.
  idempotent: true,
  maxInFlightRequests: 1,
  // Retriable failures (no leader, broker down) are retried until the cluster is back: the stage waits
  // instead of crashing, which is the backpressure a stream processor wants. Others fail at once.
  retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: Number.MAX_SAFE_INTEGER },
};

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * kafkajs log lines go to pino. Its ERROR lines are mostly responses it retries
 * (coordinator not ready, topic exists, broker gone for a moment): warnings for
 * us, since real failures reach the caller as exceptions. INFO chatter (joins,
 * rebalances) is debug.
 */
function logCreator(log: Logger) {
  const child = log.child({ component: "kafkajs" });
  return () =>
    ({ level, log: entry }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry;
      if (level === logLevel.ERROR || level === logLevel.WARN) child.warn(rest, message);
      else if (level === logLevel.INFO) child.debug(rest, message);
      else child.trace(rest, message);
    };
}

/** Why the first connection failed, in the operator's terms: a refused login is not worth retrying. */
function connectFailure(err: unknown, options: KafkaTransportOptions): TransportError {
  const detail = errorMessage(err);
  if ((err as Error).name === "KafkaJSSASLAuthenticationError") {
    return new TransportError(`the brokers refused the SASL ${options.sasl?.mechanism} login of "${options.sasl?.username}": ${detail}`, { cause: err });
  }
  // A TLS listener answers a plain-text client by closing the connection.
  const hint = !options.ssl && /closed connection/i.test(detail) ? " (a TLS listener? set KAFKA_SSL=true)" : "";
  return new TransportError(`cannot reach the Kafka brokers ${options.brokers.join(",")}${options.ssl ? " over TLS" : ""}: ${detail}${hint}`, {
    retriable: true,
    cause: err,
  });
}

/** Node's codes for a TLS peer certificate that does not verify: retrying will not change them. */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/**
 * With TLS, one handshake with the first broker before kafkajs connects: a
 * certificate that does not verify fails start-up at once, where kafkajs
 * would retry it as a connection error for half a minute. Anything else
 * (refused, timed out, reset) is left to kafkajs and its retries.
 */
async function checkCertificate(broker: string, ssl: true | ConnectionOptions): Promise<void> {
  const at = broker.lastIndexOf(":");
  const host = broker.slice(0, at);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const socket = tlsConnect(
      { host, port: Number(broker.slice(at + 1)), servername: isIP(host) ? undefined : host, ...(ssl === true ? {} : ssl), timeout: 3000 },
      () => {
        socket.end();
        resolve(null);
      },
    );
    socket.once("error", (e) => {
      socket.destroy();
      resolve(e);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(null);
    });
  });
  if (err?.code && CERTIFICATE_ERROR.test(err.code)) {
    const hint = ssl === true ? " (signed by a private CA? set KAFKA_SSL_CA_FILE)" : "";
    throw new TransportError(`the certificate of Kafka broker ${broker} does not verify: ${err.message}${hint}`, { cause: err });
  }
}

/**
 * The scaled-out transport: Kafka through kafkajs. Topics (with an optional
 * prefix) are created at start; messages are keyed (car_id), values are JSON
 * with a schema version. publish resolves when every message is acknowledged
 * by all in-sync replicas (idempotent producer, so a retry never duplicates).
 * Each subscription is its own consumer in the group `<prefix>carwatch-<group>`;
 * a batch's offsets are committed only after the handler resolved, never for a
 * partition the consumer no longer owns. A message that cannot be decoded goes
 * to the dead-letter topic with the reason and its offset is committed with
 * the batch, so it never blocks its partition.
 */
export class KafkaTransport implements Transport {
  readonly kind = "kafka" as const;
  readonly prefix: string;
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  /** A few producers: an idempotent producer has one request in flight, so stages publishing at once take turns less. */
  private readonly producers: { producer: Producer; inFlight: number }[] = [];
  private readonly log: Logger;
  private readonly subs = new Set<{ stop(): Promise<void> }>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly lags = new Map<string, { value: number; at: number; refreshing: boolean }>();
  private connected = false;

  constructor(private readonly options: KafkaTransportOptions) {
    this.prefix = options.topicPrefix ?? "";
    this.log = options.log.child({ transport: "kafka" });
    this.kafka = new Kafka({
      clientId: options.clientId ?? "carwatch",
      brokers: options.brokers,
      logCreator: logCreator(this.log),
      logLevel: logLevel.INFO,
      connectionTimeout: 3000,
      ssl: options.ssl,
      // kafkajs attaches its authenticator (a function) to the sasl object: a copy keeps threadOptions cloneable.
      sasl: options.sasl && { ...options.sasl },
      // A broker restart takes seconds: keep retrying for about half a minute before giving up.
      retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: 12 },
    });
    this.admin = this.kafka.admin();
    for (let i = 0; i < (options.producers ?? 3); i++) this.producers.push({ producer: this.kafka.producer(PRODUCER), inFlight: 0 });
  }

  /** The options another thread opens its own transport with (the generator's producing worker). */
  get threadOptions(): KafkaThreadOptions {
    const { log: _log, onTiming: _t, ...rest } = this.options;
    return rest;
  }

  /** Full topic name on the cluster. */
  topicName(topic: Topic<unknown> | string): string {
    return this.prefix + (typeof topic === "string" ? topic : topic.name);
  }

  /** Full consumer group id on the cluster. */
  groupId(group: string): string {
    return `${this.prefix}carwatch-${group}`;
  }

  /** Connects, creates missing topics and waits until every partition has a live leader. */
  async connect(): Promise<void> {
    const deadline = Date.now() + (this.options.connectTimeoutMs ?? 60_000);
    if (this.options.ssl) await checkCertificate(this.options.brokers[0]!, this.options.ssl);
    try {
      await this.admin.connect();
    } catch (err) {
      throw connectFailure(err, this.options);
    }
    const topics = (this.options.topics ?? ALL_TOPICS).map((t) => this.topicName(t));
    const created = await this.admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: this.options.partitions ?? 6,
        replicationFactor: this.options.replicationFactor ?? -1,
      })),
    });
    if (created) this.log.info({ topics, partitions: this.options.partitions ?? 6 }, "created topics");
    // Right after creation a leader may not serve yet; a produce then fails or (non-idempotent) duplicates.
    for (const topic of topics) {
      for (;;) {
        try {
          const offsets = await this.admin.fetchTopicOffsets(topic);
          this.partitionCounts.set(topic, offsets.length);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new TransportError(`topic ${topic} has no live leaders: ${errorMessage(err)}`, { retriable: true, cause: err });
          await delay(100);
        }
      }
    }
    await Promise.all(this.producers.map((p) => p.producer.connect()));
    this.connected = true;
  }

  partitions(topic: Topic<unknown>): number {
    return this.partitionCounts.get(this.topicName(topic)) ?? 1;
  }

  async publish<T>(topic: Topic<T>, messages: readonly OutMessage<T>[]): Promise<void> {
    if (messages.length === 0) return;
    if (!this.connected) throw new TransportError("the Kafka transport is not connected");
    // The least busy producer. Order per key holds because every caller awaits a publish before its next one.
    const slot = this.producers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    try {
      await this.send(slot.producer, topic, messages);
    } finally {
      slot.inFlight--;
    }
  }

  /** One publish (acks=all); `to` is a producer. */
  private async send<T>(to: Pick<Producer, "sendBatch">, topic: Topic<T>, messages: readonly OutMessage<T>[]): Promise<void> {
    try {
      await this.produce(to, [this.topicMessages(topic, messages)]);
    } catch (err) {
      throw kafkaFailure(`publish to ${this.topicName(topic)} failed`, err);
    }
  }

  private topicMessages<T>(topic: Topic<T>, messages: readonly OutMessage<T>[]): TopicMessages {
    return { topic: this.topicName(topic), messages: messages.map((m) => ({ key: m.key, value: topic.encode(m.value) })) };
  }

  /** One produce request (acks=all) for the messages of one or more topics, timed. */
  private async produce(to: Pick<Producer, "sendBatch">, topicMessages: TopicMessages[]): Promise<void> {
    const started = performance.now();
    await to.sendBatch({ acks: -1, topicMessages });
    this.options.onTiming?.("produce", performance.now() - started);
  }

  /**
   * A round as one transaction of `producer`: its publishes and its offsets (as the group's). Nothing of a
   * transaction is seen before its commit, so the round's publishes wait for it and go out as one produce
   * request with every topic in it: one round trip (and one AddPartitionsToTxn) instead of one per publish.
   */
  private transactionalSink(producer: Producer, groupId: string): RoundSink {
    const pending: TopicMessages[] = [];
    let open: Transaction | null = null;
    return {
      publish: async (topic, messages) => {
        if (messages.length === 0) return;
        const add = this.topicMessages(topic, messages);
        // One entry per topic: a produce request names each partition once.
        const same = pending.find((t) => t.topic === add.topic);
        if (same) for (const m of add.messages) same.messages.push(m);
        else pending.push(add);
      },
      commit: async (offsets) => {
        try {
          const t = (open = await producer.transaction());
          if (pending.length > 0) await this.produce(t, pending);
          await t.sendOffsets({ consumerGroupId: groupId, topics: [offsets] });
          await t.commit();
        } catch (err) {
          throw kafkaFailure(`committing the transaction of ${groupId} failed`, err);
        }
      },
      abort: async () => {
        if (open?.isActive()) await open.abort();
      },
    };
  }

  async subscribe<T>(topic: Topic<T>, group: string, handler: BatchHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    const name = this.topicName(topic);
    const groupId = this.groupId(group);
    const maxBatch = options.maxBatch ?? 2000;
    const log = this.log.child({ topic: name, group: groupId });
    const heartbeatInterval = this.options.heartbeatIntervalMs ?? 1000;
    const consumer: Consumer = this.kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval,
      maxWaitTimeInMs: this.options.maxWaitTimeInMs ?? 100,
      minBytes: this.options.minBytes ?? 1,
      rebalanceTimeout: 30_000,
      retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: 12 },
    });

    const deadLetters = async (batches: readonly PartitionBatch<T>[]) => {
      const now = Date.now();
      const out = batches.flatMap((batch) =>
        batch.dead.map(({ message: m, err }) => {
          const value: DeadLetterMessage = {
            topic: name,
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString("utf8") ?? null,
            group: groupId,
            reason: err instanceof DecodeError ? err.reason : "undecodable",
            detail: errorMessage(err),
            payload: m.value?.toString("utf8") ?? "",
            received_at: now,
          };
          return { key: value.key ?? "", value };
        }),
      );
      if (out.length === 0) return;
      await this.publish(DEAD_LETTERS, out);
      await options.onDeadLetters?.(out.map((o) => o.value));
      log.warn({ count: out.length, reason: out[0]!.value.reason, detail: out[0]!.value.detail }, "undecodable messages sent to the dead-letter topic");
    };

    // One transactional producer per transactional subscription: its id names the group and this process, so a
    // restarted process fences the transaction its predecessor left open.
    const txProducer = options.transactional
      ? this.kafka.producer({
          ...PRODUCER,
          transactionalId: `${groupId}-${this.options.instanceId ?? `${hostname()}-${process.pid}`}`,
          transactionTimeout: TRANSACTION_TIMEOUT_MS,
          // The broker answers CONCURRENT_TRANSACTIONS while it still writes the last transaction's markers (a few ms):
          // retry soon, as the Java client does, not after kafkajs' usual 100 ms and more.
          retry: { ...PRODUCER.retry, initialRetryTime: 5 },
        })
      : null;
    const publish = this.publish.bind(this);
    // A handler that throws ends the subscription uncommitted: the supervisor restarts the stage, which gets the messages again.
    const rounds = new Rounds<T>({
      topic: name,
      handler,
      deadLetters,
      begin: () => (txProducer ? this.transactionalSink(txProducer, groupId) : plainSink(publish)),
      onPhase: this.options.onTiming && ((phase, ms) => this.options.onTiming?.(phase, ms, group)),
      onFailure: (err) => void finish(err),
      heartbeatMs: heartbeatInterval,
      log,
    });

    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined); // a caller that only calls stop() must not see an unhandled rejection
    let finishing: Promise<void> | null = null;
    const sub = { stop: (): Promise<void> => finish(null) };
    const finish = (err: unknown | null): Promise<void> =>
      (finishing ??= (async () => {
        rounds.close();
        await consumer.disconnect().catch((e: unknown) => log.warn({ err: e }, "consumer disconnect failed"));
        await txProducer?.disconnect().catch((e: unknown) => log.warn({ err: e }, "transactional producer disconnect failed"));
        this.subs.delete(sub);
        if (err) settle.reject(err);
        else settle.resolve();
      })());

    consumer.on(consumer.events.GROUP_JOIN, (e) => options.onAssignment?.(e.payload.memberAssignment[name] ?? []));

    // A batch of control records only (the marker that ends a transaction) never reaches eachBatch, and kafkajs
    // commits its offset only with auto-commit: committed here, after the partition's earlier batches were.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.batchSize > 0 || rounds.closed) return;
      consumer
        .commitOffsets([{ topic: name, partition: e.payload.partition, offset: (BigInt(e.payload.lastOffset) + 1n).toString() }])
        .catch((err: unknown) => log.debug({ err: errorMessage(err) }, "committing past a control batch failed; the next batch's commit goes past it"));
    });

    // kafkajs restarts a consumer after retriable failures by itself; a crash it will not restart ends the subscription.
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart && !rounds.closed)
        void finish(new TransportError(`consumer ${groupId} on ${name} crashed: ${errorMessage(e.payload.error)}`, { cause: e.payload.error }));
    });

    const eachBatch = async (payload: EachBatchPayload) => {
      const { batch, isRunning, isStale } = payload;
      const partition = batch.partition;
      const live = () => !rounds.closed && isRunning() && !isStale();
      const oldest = batch.messages[0];
      if (oldest && this.options.onTiming) this.options.onTiming("delivery", Date.now() - Number(oldest.timestamp), group);
      let next: PartitionBatch<T> | null = null;
      const send = async () => {
        if (next === null) return true;
        const slice = next;
        next = null;
        return rounds.submit(slice);
      };
      for (const message of batch.messages) {
        if (!live()) return;
        next ??= { partition, envelopes: [], dead: [], last: message.offset, control: payload };
        const raw = message.value?.toString("utf8") ?? "";
        try {
          next.envelopes.push({ id: `${name}-${partition}-${message.offset}`, key: message.key?.toString("utf8") ?? "", value: topic.decode(raw), partition });
        } catch (err) {
          next.dead.push({ message, err });
        }
        next.last = message.offset;
        if (next.envelopes.length + next.dead.length >= maxBatch && !(await send())) return;
      }
      // Past any control records after the last message (a transaction's marker), so a group that read everything lags 0.
      if (next !== null) (next as PartitionBatch<T>).last = batch.lastOffset();
      if (live()) await send();
    };

    try {
      await txProducer?.connect();
      await consumer.connect();
      await consumer.subscribe({ topics: [name], fromBeginning: (options.from ?? "earliest") === "earliest" });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: this.options.partitions ?? 6, eachBatch });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      await txProducer?.disconnect().catch(() => undefined);
      throw kafkaFailure(`cannot consume ${name} as ${groupId}`, err);
    }
    this.subs.add(sub);
    return { done, stop: sub.stop };
  }

  /**
   * Messages waiting for a group (sum over partitions of end offset minus
   * committed offset). Synchronous for status pages: returns the last value
   * and refreshes it in the background when older than two seconds.
   */
  lag(topic: Topic<unknown>, group: string): number {
    const key = `${this.topicName(topic)}\n${this.groupId(group)}`;
    let entry = this.lags.get(key);
    if (!entry) this.lags.set(key, (entry = { value: 0, at: 0, refreshing: false }));
    if (this.connected && !entry.refreshing && Date.now() - entry.at > 2000) {
      entry.refreshing = true;
      const e = entry;
      this.groupLag(topic, group)
        .then((v) => {
          e.value = v;
          e.at = Date.now();
        })
        .catch(() => undefined)
        .finally(() => (e.refreshing = false));
    }
    return entry.value;
  }

  /** The exact lag of a group now; a group without commits counts from the start of the log. */
  async groupLag(topic: Topic<unknown>, group: string): Promise<number> {
    const name = this.topicName(topic);
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(name),
      this.admin.fetchOffsets({ groupId: this.groupId(group), topics: [name] }),
    ]);
    const at = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let lag = 0n;
    for (const p of ends) {
      const c = at.get(p.partition) ?? -1n;
      const from = c < 0n ? BigInt(p.low) : c;
      if (BigInt(p.high) > from) lag += BigInt(p.high) - from;
    }
    return Number(lag);
  }

  /**
   * Resolves once each group has committed everything on its topic, in the
   * order given (upstream first: a group commits only after publishing its
   * output, so a caught-up upstream group means its output is all there).
   * For tests and benchmarks; polls the cluster every `pollMs`.
   */
  async whenCaughtUp(pairs: readonly (readonly [Topic<unknown>, string])[], options: { timeoutMs?: number; pollMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    // Two passes in a row, pollMs apart: a transaction's commit markers reach __consumer_offsets and the output
    // partitions one after the other, and until an output partition has its marker its end (the last stable
    // offset) still stops before the transaction, so one pass can see upstream committed and downstream idle.
    let quiet = 0;
    while (quiet < 2) {
      quiet++;
      for (const [topic, group] of pairs) {
        const lag = await this.groupLag(topic, group);
        if (lag === 0) continue;
        quiet = 0;
        if (Date.now() > deadline) throw new TransportError(`group ${this.groupId(group)} still lags ${lag} on ${this.topicName(topic)}`);
        break;
      }
      if (quiet < 2) await delay(options.pollMs ?? 50);
    }
  }

  /** The underlying client, for tools and tests (admin, extra consumers). */
  get client(): Kafka {
    return this.kafka;
  }

  async close(): Promise<void> {
    for (const s of [...this.subs]) await s.stop();
    this.connected = false;
    await Promise.all(this.producers.map((p) => p.producer.disconnect().catch(() => undefined)));
    await this.admin.disconnect().catch(() => undefined);
  }
}
