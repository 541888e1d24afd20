import { GrammyError } from "grammy";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";

export interface SendQueueOptions {
  /** Gap between messages to one private chat (Telegram: about 1/s). */
  privateGapMs: number;
  /** Gap between messages to one group (Telegram: 20/min). */
  groupGapMs: number;
  /** First wait after a failed send; doubles up to a minute. */
  retryMs: number;
}

export const TELEGRAM_PACE: SendQueueOptions = { privateGapMs: 1000, groupGapMs: 3000, retryMs: 2000 };

interface Lane {
  jobs: (() => Promise<unknown>)[];
  running: boolean;
}

/**
 * Sends proactive messages (digests, incident notices) one chat at a time
 * within Telegram's limits. A send that fails is tried again later (after
 * auto-retry has given up on it), so nothing is dropped; only a refusal that
 * can never succeed (the bot was removed, the chat is gone) is logged and
 * skipped. Enqueueing never waits, so the pipeline never waits on Telegram.
 */
export class SendQueue {
  private readonly lanes = new Map<number, Lane>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly log: Logger,
    private readonly options: SendQueueOptions = TELEGRAM_PACE,
    private readonly metrics?: Metrics,
  ) {}

  push(chatId: number, send: () => Promise<unknown>): void {
    if (this.stopped) return;
    let lane = this.lanes.get(chatId);
    if (!lane) this.lanes.set(chatId, (lane = { jobs: [], running: false }));
    lane.jobs.push(send);
    if (!lane.running) void this.drain(chatId, lane);
  }

  pending(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.jobs.length;
    return n;
  }

  /** Resolves when every queued message has been sent (or skipped). */
  idle(): Promise<void> {
    if (this.pending() === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private async drain(chatId: number, lane: Lane): Promise<void> {
    lane.running = true;
    const gap = chatId < 0 ? this.options.groupGapMs : this.options.privateGapMs;
    let failures = 0;
    while (lane.jobs.length > 0 && !this.stopped) {
      try {
        await lane.jobs[0]!();
        lane.jobs.shift();
        failures = 0;
        this.metrics?.digests.inc({ outcome: "sent" });
      } catch (err) {
        if (err instanceof GrammyError && [400, 403].includes(err.error_code)) {
          this.log.warn({ chatId, err: errorMessage(err) }, "Telegram refused a message for good; skipped");
          lane.jobs.shift();
          this.metrics?.digests.inc({ outcome: "refused" });
        } else {
          failures++;
          this.metrics?.digests.inc({ outcome: "failed" });
          const delay = Math.min(60_000, this.options.retryMs * 2 ** (failures - 1));
          this.log.warn({ chatId, delay, err: errorMessage(err) }, "sending failed; will try again");
          await this.wait(delay);
          continue;
        }
      }
      if (lane.jobs.length > 0 && gap > 0) await this.wait(gap);
    }
    lane.running = false;
    if (this.pending() === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
