import { storedPayload } from "../../domain/events.js";
import type { StageContext } from "../stage.js";
import type { DeadLetterMessage } from "../transport/topics.js";
import type { BatchHandler, SubscribeOptions, Topic } from "../transport/transport.js";
import { HopStopped } from "./fused-hop.js";

/**
 * The body of a streaming stage: consume a topic until asked to stop (then
 * finish the batch in hand) or until the handler throws (a crash, which the
 * supervisor records and restarts after a backoff).
 */
export async function consumeUntilStopped<T>(
  ctx: StageContext<unknown>,
  topic: Topic<T>,
  group: string,
  handler: BatchHandler<T>,
  options?: SubscribeOptions,
): Promise<void> {
  const histogram = ctx.deps.metrics?.stageBatchSeconds.labels({ stage: group });
  const timed: BatchHandler<T> = histogram
    ? async (batch, out) => {
        const end = histogram.startTimer();
        await handler(batch, out);
        end();
      }
    : handler;
  // Messages the transport could not decode went to the dead-letter topic. They are this stage's dead letters,
  // kept where every other refused message is (insert-once, keyed by their place on the wire like envelope ids).
  const onDeadLetters = async (letters: DeadLetterMessage[]) => {
    await ctx.deps.lakehouse.write([
      {
        table: "dead_letters",
        rows: letters.map((l) => ({
          id: `${l.topic}-${l.partition}-${l.offset}`,
          received_at: l.received_at,
          stage: group,
          reason: l.reason,
          detail: l.detail,
          payload: storedPayload(l.payload),
        })),
      },
    ]);
    ctx.counters.deadLetters += letters.length;
  };
  const sub = await ctx.deps.transport.subscribe(topic, group, timed, { onDeadLetters, ...options });
  ctx.ready();
  const stopped = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await Promise.race([sub.done, stopped.then(() => sub.stop())]);
  // sub.done rejects when the handler threw: that is the stage's crash, unless it was asked to stop while it waited for a fused stage.
  await sub.done.catch((err: unknown) => {
    if (!(err instanceof HopStopped && ctx.signal.aborted)) throw err;
  });
}
