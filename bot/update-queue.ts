import type { Update } from "grammy/types";

/**
 * The updates the webhook acknowledged and the bot has not finished. Each
 * starts at once, in arrival order: bot.ts's sequentialize keeps one chat's
 * updates in that order (Telegram sends a chat's next update only after the
 * previous one was acknowledged), while chats run side by side, as under the
 * runner when polling. Bounded: with `capacity` updates in hand it takes no
 * more, and the webhook refuses the update for Telegram to deliver again.
 */
export class UpdateQueue {
  private readonly inHand = new Set<Promise<void>>();

  constructor(
    private readonly handle: (update: Update) => Promise<void>,
    private readonly onError: (err: unknown, update: Update) => void,
    readonly capacity: number,
  ) {}

  get full(): boolean {
    return this.inHand.size >= this.capacity;
  }

  /** Starts handling the update (the caller checked `full`). */
  push(update: Update): void {
    const task: Promise<void> = this.handle(update)
      .catch((err: unknown) => this.onError(err, update))
      .finally(() => this.inHand.delete(task));
    this.inHand.add(task);
  }

  /** Resolves when no update is in hand (also those pushed meanwhile). */
  async idle(): Promise<void> {
    while (this.inHand.size > 0) await Promise.all(this.inHand);
  }

  /** Like idle, but for `ms` at most: resolves with how many are left. */
  async drain(ms: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.idle(), deadline]);
    clearTimeout(timer);
    return this.inHand.size;
  }
}
