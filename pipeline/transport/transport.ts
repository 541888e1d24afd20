import type { KafkaThreadOptions } from "./kafka.js";
import type { DeadLetterMessage } from "./topics.js";

/**
 * How stages talk: the in-process bus (embedded default) or Kafka. Both
 * deliver at least once: a batch is committed only after its handler
 * resolves, so stages make their outputs durable before returning.
 */
export interface Topic<T> {
  /** Logical name; a transport may add a prefix. */
  name: string;
  /** Wire form, for transports that serialise (Kafka). */
  encode(value: T): string;
  /** Parses a message from the wire; throws with a reason on a bad message. */
  decode(raw: string): T;
}

export interface Envelope<T> {
  /** Unique and stable across redeliveries (e.g. topic-partition-offset). */
  id: string;
  key: string;
  value: T;
  /** The partition it was read from (Kafka); absent on the embedded bus, which has one. */
  partition?: number;
}

export interface OutMessage<T> {
  key: string;
  value: T;
}

/** Where a handler publishes what its batch produced: as part of the batch's round. */
export interface RoundOutput {
  /** Resolves once accepted; on a transactional subscription the messages are sent with the round's commit (seen only once it commits). */
  publish<T>(topic: Topic<T>, messages: readonly OutMessage<T>[]): Promise<void>;
}

export type BatchHandler<T> = (batch: Envelope<T>[], out: RoundOutput) => Promise<void> | void;

export interface SubscribeOptions {
  maxBatch?: number;
  /**
   * Called with the messages of a batch that could not be decoded, once they
   * are on the dead-letter topic; awaited before the batch is committed.
   */
  onDeadLetters?: (letters: DeadLetterMessage[]) => Promise<void> | void;
  /** Called when this member's partitions of the topic changed (a rebalance); never on a transport without partitions. */
  onAssignment?: (partitions: number[]) => void;
  /** Where a group without committed offsets starts: the oldest message kept (default) or only new ones. */
  from?: "earliest" | "latest";
  /**
   * Consume-transform-produce in one transaction per round (Kafka): what the handler publishes through `out` and
   * the round's offsets commit together, so readers see each output exactly once. Ignored by the in-process bus.
   */
  transactional?: boolean;
}

export interface Subscription {
  /** Stops after the batch in hand is handled and committed. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves when stopped, rejects when the handler threw. */
  readonly done: Promise<void>;
}

export interface Transport {
  readonly kind: "memory" | "kafka";
  /** Resolves once the messages are accepted; waits while consumers are too far behind (backpressure). */
  publish<T>(topic: Topic<T>, messages: readonly OutMessage<T>[]): Promise<void>;
  subscribe<T>(topic: Topic<T>, group: string, handler: BatchHandler<T>, options?: SubscribeOptions): Promise<Subscription>;
  /** Partitions of a topic (1 when the transport has no partitions). */
  partitions?(topic: Topic<unknown>): number;
  /** What a worker thread needs to open its own connection (Kafka); absent where a thread cannot reach the transport (the in-process bus). */
  readonly threadOptions?: KafkaThreadOptions;
  /** Messages waiting for a group; 0 when unknown. */
  lag(topic: Topic<unknown>, group: string): number;
  close(): Promise<void>;
}
