import type { EachBatchPayload, KafkaMessage } from "kafkajs";
import { errorMessage } from "../../core/errors.js";
import type { Logger } from "../../core/log.js";
import { isRebalance } from "./kafka-errors.js";
import type { BatchHandler, Envelope } from "./transport.js";

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

export interface RoundsOptions<T> {
  /** Full topic name, for the commit. */
  topic: string;
  handler: BatchHandler<T>;
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
      this.queue.push({ batch, settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) });
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

  /** One round: dead letters sent on, handler resolved, then one commit for the partitions still owned. */
  private async round(round: readonly Pending<T>[]): Promise<void> {
    const { options } = this;
    const live = dropStale(round);
    if (live.length === 0) return;
    if (this.isClosed) return settleAll(live, false);
    const batches = live.map((p) => p.batch);
    try {
      await options.deadLetters(batches);
    } catch (err) {
      return settleAll(live, asError(err));
    }
    const envelopes = batches.flatMap((b) => b.envelopes);
    if (envelopes.length > 0) {
      try {
        await options.handler(envelopes);
      } catch (err) {
        this.isClosed = true;
        options.onFailure(err);
        return settleAll(live, false);
      }
    }
    // Not ours any more (rebalanced while handling): the new owner redelivers; the sinks are idempotent.
    const owned = dropStale(live);
    if (owned.length === 0) return;
    for (const { batch } of owned) batch.control.resolveOffset(batch.last);
    try {
      // The batch's own commit: unlike consumer.commitOffsets it still works while the consumer stops.
      await owned[0]!.batch.control.commitOffsetsIfNecessary({
        topics: [
          { topic: options.topic, partitions: owned.map(({ batch }) => ({ partition: batch.partition, offset: (BigInt(batch.last) + 1n).toString() })) },
        ],
      });
    } catch (err) {
      if (!isRebalance(err)) return settleAll(owned, asError(err));
      options.log.debug({ err: errorMessage(err) }, "commit refused after a rebalance; the new owner redelivers");
      return settleAll(owned, false);
    }
    settleAll(owned, true);
  }
}
