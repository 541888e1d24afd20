import type { EachBatchPayload, KafkaMessage } from "kafkajs";
import { errorMessage } from "../../core/errors.js";
import type { Logger } from "../../core/log.js";
import { isRebalance } from "./kafka-errors.js";
import type { BatchHandler, Envelope, RoundOutput } from "./transport.js";

/** What a round uses of the eachBatch payload a batch came with. */
export type BatchControl = Pick<EachBatchPayload, "isStale" | "resolveOffset" | "heartbeat" | "commitOffsetsIfNecessary">;

/** A message that did not decode, and why. */
export interface Undecodable {
  message: KafkaMessage;
  err: unknown;
}

/** One partition's batch (or a maxBatch slice of it), decoded. */
export interface PartitionBatch<T> {
  partition: number;
  envelopes: Envelope<T>[];
  dead: Undecodable[];
  /** Offset of the last message, decoded or not: the commit goes past it. */
  last: string;
  control: BatchControl;
}

/** A round's offsets, as kafkajs commits them. */
export interface RoundOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

/**
 * How one round's output and offsets become durable: published as it goes and then committed, or (a
 * transactional subscription) sent in one Kafka transaction that the commit ends.
 */
export interface RoundSink extends RoundOutput {
  commit(offsets: RoundOffsets, control: BatchControl): Promise<void>;
  /** The round is given up (partitions moved, handler failed): output not yet committed is dropped where it can be. */
  abort(): Promise<void>;
}

/** Publishes as it goes (`publish`), then commits with the batch's own commit: unlike consumer.commitOffsets it still works while the consumer stops. */
export function plainSink(publish: RoundOutput["publish"]): RoundSink {
  return {
    publish,
    commit: (offsets, control) => control.commitOffsetsIfNecessary({ topics: [offsets] }),
    abort: async () => undefined,
  };
}

/** Where a phase of a round went, in ms: waiting for its turn, the handler, the commit. */
export type RoundPhase = "queued" | "handler" | "commit";

export interface RoundsOptions<T> {
  /** Full topic name, for the commit. */
  topic: string;
  handler: BatchHandler<T>;
  /** A sink per round. */
  begin(): RoundSink;
  /** Reports each round's phases (latency accounting). */
  onPhase?(phase: RoundPhase, ms: number): void;
  /** Sends a round's undecodable messages on (the dead-letter topic) before the handler runs. */
  deadLetters(batches: readonly PartitionBatch<T>[]): Promise<void>;
  /** The handler threw. Called once; from then on every batch settles uncommitted. */
  onFailure(err: unknown): void;
  /** How often a pending round heartbeats; kafkajs sends at most one per consumer `heartbeatInterval` anyway. */
  heartbeatMs: number;
  log: Logger;
}

interface Pending<T> {
  batch: PartitionBatch<T>;
  submitted: number;
  settle(outcome: boolean | Error): void;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function settleAll<T>(pending: readonly Pending<T>[], outcome: boolean | Error): void {
  for (const p of pending) p.settle(outcome);
}

/** Settles the batches whose partition moved to another member (uncommitted: the new owner redelivers); returns the rest. */
function dropStale<T>(pending: readonly Pending<T>[]): Pending<T>[] {
  return pending.filter((p) => {
    const stale = p.batch.control.isStale();
    if (stale) p.settle(false);
    return !stale;
  });
}

/**
 * Merges the batches of several partitions into rounds. kafkajs hands over
 * one partition's batch at a time (several at once with
 * partitionsConsumedConcurrently); the batches that arrive in one turn of the
 * event loop go to the handler as one call: one store transaction, one
 * produce and one commit per round instead of one per partition. Each
 * eachBatch call awaits its batch's `submit`, so a partition's next batch
 * waits until its previous one settled and order per partition (per car)
 * holds.
 *
 * `submit` resolves true once the batch's offsets are committed, false when
 * they are left uncommitted on purpose (partition stale, rounds closed,
 * handler failed, commit refused after a rebalance), and rejects when the
 * dead letters or the commit failed otherwise (eachBatch hands that to
 * kafkajs, which retries the batch).
 */
export class Rounds<T> {
  private queue: Pending<T>[] = [];
  private inHand: Pending<T>[] = [];
  private draining = false;
  private isClosed = false;

  constructor(private readonly options: RoundsOptions<T>) {}

  /** True once closed or once the handler failed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Rounds not yet started settle uncommitted; the round in hand still commits (the consumer leaves the group after it). */
  close(): void {
    this.isClosed = true;
  }

  submit(batch: PartitionBatch<T>): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ batch, submitted: performance.now(), settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) });
      // On the next turn of the event loop, so that batches kafkajs hands over together go in one round.
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    // kafkajs heartbeats between batches only and its fetcher waits for them, so while a round is pending
    // (a slow store commit) nothing else keeps the member in the group past its session timeout.
    const beat = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    try {
      while (this.queue.length > 0) {
        this.inHand = this.queue;
        this.queue = [];
        await this.round(this.inHand);
      }
    } finally {
      clearInterval(beat);
      this.inHand = [];
      this.draining = false;
    }
  }

  /** Every batch's heartbeat goes to the same consumer: one will do. */
  private heartbeat(): void {
    this.inHand[0]?.batch.control.heartbeat().catch((err: unknown) => {
      this.options.log.debug({ err: errorMessage(err) }, "heartbeat during a round failed; the round's commit tells whether the partitions are still ours");
    });
  }

  /** One round: dead letters sent on, handler resolved, then one commit (or transaction) for the partitions still owned. */
  private async round(round: readonly Pending<T>[]): Promise<void> {
    const { options } = this;
    const live = dropStale(round);
    if (live.length === 0) return;
    if (this.isClosed) return settleAll(live, false);
    const started = performance.now();
    for (const p of live) options.onPhase?.("queued", started - p.submitted);
    const batches = live.map((p) => p.batch);
    try {
      await options.deadLetters(batches);
    } catch (err) {
      return settleAll(live, asError(err));
    }
    const sink = options.begin();
    const giveUp = () => sink.abort().catch((err: unknown) => options.log.warn({ err: errorMessage(err) }, "aborting a round's transaction failed"));
    const envelopes = batches.flatMap((b) => b.envelopes);
    if (envelopes.length > 0) {
      try {
        await options.handler(envelopes, sink);
      } catch (err) {
        this.isClosed = true;
        await giveUp();
        options.onFailure(err);
        return settleAll(live, false);
      }
    }
    const handled = performance.now();
    options.onPhase?.("handler", handled - started);
    // Not ours any more (rebalanced while handling): the new owner redelivers; the sinks are idempotent.
    const owned = dropStale(live);
    if (owned.length === 0) {
      await giveUp();
      return;
    }
    for (const { batch } of owned) batch.control.resolveOffset(batch.last);
    try {
      await sink.commit(
        { topic: options.topic, partitions: owned.map(({ batch }) => ({ partition: batch.partition, offset: (BigInt(batch.last) + 1n).toString() })) },
        owned[0]!.batch.control,
      );
    } catch (err) {
      await giveUp();
      if (!isRebalance(err)) return settleAll(owned, asError(err));
      options.log.debug({ err: errorMessage(err) }, "commit refused after a rebalance; the new owner redelivers");
      return settleAll(owned, false);
    }
    options.onPhase?.("commit", performance.now() - handled);
    settleAll(owned, true);
  }
}
