import { MemorySessionStorage } from "grammy";
import { z } from "zod";
import { ConfirmationRows } from "../state/confirmations.js";
import type { StateStore } from "../state/store.js";
import type { Pending, PendingStorage } from "./confirmations.js";

const pendingSchema = z.object({
  tool: z.string(),
  input: z.unknown(),
  userId: z.number(),
  chatId: z.number(),
  expiresAt: z.number(),
}) satisfies z.ZodType<Pending>;

/**
 * Pending confirmations in state.db, shared by every process on the same
 * DATA_DIR: a button pressed on another process than the one that asked, or
 * after a restart, is accepted.
 */
export class StateConfirmationStorage implements PendingStorage {
  private readonly rows: ConfirmationRows;

  constructor(state: StateStore) {
    this.rows = new ConfirmationRows(state);
  }

  read(token: string): Pending | undefined {
    return parse(this.rows.read(token));
  }

  write(token: string, pending: Pending): void {
    this.rows.write(token, JSON.stringify(pending), pending.expiresAt);
  }

  delete(token: string): void {
    this.rows.delete(token);
  }

  take(token: string): Pending | undefined {
    return parse(this.rows.take(token));
  }

  deleteExpired(now: number): void {
    this.rows.deleteExpired(now);
  }
}

/** A row another version of carwatch wrote in another shape is a stale button, answered as such. */
function parse(pending: string | undefined): Pending | undefined {
  if (pending === undefined) return undefined;
  const parsed = pendingSchema.safeParse(JSON.parse(pending));
  return parsed.success ? parsed.data : undefined;
}

/** In this process only (the console, whose page talks to the process it came from; tests). */
export class MemoryConfirmationStorage extends MemorySessionStorage<Pending> implements PendingStorage {
  take(token: string): Pending | undefined {
    const p = this.read(token);
    this.delete(token);
    return p;
  }

  deleteExpired(now: number): void {
    for (const [token, p] of this.readAllEntries()) if (p.expiresAt <= now) this.delete(token);
  }
}
