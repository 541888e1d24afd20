import { createHash, timingSafeEqual } from "node:crypto";
import type { Update } from "grammy/types";
import { z } from "zod";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { SeenUpdates } from "../state/seen-updates.js";
import type { UpdateQueue } from "./update-queue.js";

const SECRET_HEADER = "x-telegram-bot-api-secret-token";

// All carwatch reads before grammY does: the id that de-duplicates the update.
const updateSchema = z.looseObject({ update_id: z.number().int().nonnegative() });

const ok = () => new Response(null, { status: 200 });
// Telegram delivers an update again after any answer but 2xx.
const later = (reason: string) => new Response(reason, { status: 503 });

/**
 * Telegram's POSTs in webhook mode. An update is acknowledged at once and
 * handled from the queue, so a slow agent turn or query never outlasts
 * Telegram's wait (or grammY webhookCallback's 10 s) and comes back as a
 * second delivery; one that does come back (same update_id) is acknowledged
 * and dropped. Refused with 503, for Telegram to deliver again later: before
 * the bot is connected (it could not handle it), while stopping (another
 * process, or this one after its restart, will), and when the queue is full.
 */
export class WebhookIntake {
  /** Set once the bot is connected (getMe): update ids are per bot. */
  private botId: number | null = null;
  private closed = false;

  constructor(
    private readonly o: {
      secret: string;
      seen: SeenUpdates;
      queue: UpdateQueue;
      log: Logger;
    },
  ) {}

  open(botId: number): void {
    this.botId = botId;
  }

  /** Resolves when the updates in hand are handled. */
  idle(): Promise<void> {
    return this.o.queue.idle();
  }

  /**
   * Takes no more updates, and waits up to `drainMs` for those in hand (which
   * Telegram was told are taken); what is left is cut short by the caller.
   */
  async close(drainMs: number): Promise<void> {
    this.closed = true;
    const left = await this.o.queue.drain(drainMs);
    if (left > 0) this.o.log.warn({ updates: left, drainMs }, "stopping with updates still in hand; they are cut short");
  }

  readonly handle = async (request: Request): Promise<Response> => {
    if (!sameSecret(request.headers.get(SECRET_HEADER), this.o.secret)) return new Response('"unauthorized"', { status: 401 });
    const parsed = updateSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success) return new Response("not a Telegram update", { status: 400 });
    // From here on nothing awaits, so close() cannot come between these checks and the push.
    if (this.closed) return later("stopping");
    if (this.botId === null) return later("not connected to Telegram yet");
    const update = parsed.data as unknown as Update;
    const again = () => {
      this.o.log.info({ update: update.update_id }, "update delivered again; already taken");
      return ok();
    };
    try {
      // A redelivery is acknowledged even when the queue is full, or Telegram would keep sending it.
      if (this.o.seen.has(this.botId, update.update_id)) return again();
      if (this.o.queue.full) {
        this.o.log.warn({ update: update.update_id, capacity: this.o.queue.capacity }, "update queue full; Telegram will deliver the update again");
        return later("busy");
      }
      // Another process may have taken it since has().
      if (!this.o.seen.take(this.botId, update.update_id)) return again();
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err), update: update.update_id }, "cannot record the update in state.db; Telegram will deliver it again");
      return later("state database busy");
    }
    this.o.queue.push(update);
    return ok();
  };
}

/** Constant time whatever the lengths: digests of equal length are compared. */
function sameSecret(header: string | null, secret: string): boolean {
  if (header === null) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(header), digest(secret));
}
