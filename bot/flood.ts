import { limit } from "@grammyjs/ratelimiter";
import type { Context, MiddlewareFn } from "grammy";

/** At most `limit` updates per user in `timeFrameMs`. */
export interface FloodLimit {
  limit: number;
  timeFrameMs: number;
}

/**
 * The ratelimiter's counters, kept as its Redis store keeps them (a user's
 * window opens at their first update and lasts one time frame) but in memory
 * and on the bot's clock: so the bot can say when a window ends, and tests
 * can move the clock. (The built-in memory store clears every user at once on
 * a timer, so nobody knows when their window ends.)
 */
class FloodWindows {
  private readonly windows = new Map<string, { hits: number; endsAt: number }>();
  private sweepAt = 0;

  constructor(
    private readonly timeFrameMs: number,
    private readonly clock: () => number,
  ) {}

  async incr(key: string): Promise<number> {
    const now = this.clock();
    // Ended windows are dropped once per time frame, so only users seen lately are kept.
    if (now >= this.sweepAt) {
      for (const [k, w] of this.windows) if (w.endsAt <= now) this.windows.delete(k);
      this.sweepAt = now + this.timeFrameMs;
    }
    let w = this.windows.get(key);
    if (!w || w.endsAt <= now) this.windows.set(key, (w = { hits: 0, endsAt: now + this.timeFrameMs }));
    return ++w.hits;
  }

  async pexpire(key: string, ms: number): Promise<number> {
    const w = this.windows.get(key);
    if (!w) return 0;
    w.endsAt = this.clock() + ms;
    return 1;
  }

  /** Whole seconds until the window of `key` ends, at least 1. */
  secondsLeft(key: string): number {
    return Math.max(1, Math.ceil(((this.windows.get(key)?.endsAt ?? 0) - this.clock()) / 1000));
  }
}

/**
 * The per-user flood limit. Every update over it is answered, with when to
 * try again, rather than met with silence (which looks like a dead bot). The
 * answer is one short message per update, never more, sent without touching
 * the registry or the agent, and in the chat's own lane (sequentialize): a
 * flood is answered at the pace Telegram allows that chat (auto-retry waits
 * out its 429s, about 1 message/s in a private chat, 20/min in a group), which
 * holds up that chat only. A button gets a toast (answerCallbackQuery, which
 * does not count against those limits).
 */
export function floodLimit(o: FloodLimit, clock: () => number): MiddlewareFn<Context> {
  const windows = new FloodWindows(o.timeFrameMs, clock);
  return limit<Context, FloodWindows>({
    timeFrame: o.timeFrameMs,
    limit: o.limit,
    storageClient: windows,
    keyPrefix: "",
    keyGenerator: (ctx) => ctx.from?.id.toString(),
    // Without it only the first update over the limit reaches onLimitExceeded; the rest are dropped unanswered.
    alwaysReply: true,
    onLimitExceeded: async (ctx) => {
      const wait = windows.secondsLeft(String(ctx.from!.id));
      if (ctx.callbackQuery) return void (await ctx.answerCallbackQuery({ text: `Too many requests: try again in ${wait} s.` }));
      await ctx.reply(`⏳ Too many messages: this one was not handled. Try again in ${wait} s.`);
    },
  });
}
