import { MemorySessionStorage } from "grammy";
import { z } from "zod";
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
  private readonly statements;

  constructor(state: StateStore) {
    const db = state.db;
    this.statements = {
      read: db.prepare<[string], { pending: string }>(`SELECT pending FROM bot_confirmations WHERE token = ?`),
      write: db.prepare<[string, string, number]>(
        `INSERT INTO bot_confirmations (token, pending, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (token) DO UPDATE SET pending = excluded.pending, expires_at = excluded.expires_at`,
      ),
      delete: db.prepare<[string]>(`DELETE FROM bot_confirmations WHERE token = ?`),
      // One statement: SQLite's write lock makes it atomic across processes.
      take: db.prepare<[string], { pending: string }>(`DELETE FROM bot_confirmations WHERE token = ? RETURNING pending`),
      deleteExpired: db.prepare<[number]>(`DELETE FROM bot_confirmations WHERE expires_at <= ?`),
    };
  }

  read(token: string): Pending | undefined {
    return parse(this.statements.read.get(token));
  }

  write(token: string, pending: Pending): void {
    this.statements.write.run(token, JSON.stringify(pending), pending.expiresAt);
  }

  delete(token: string): void {
    this.statements.delete.run(token);
  }

  take(token: string): Pending | undefined {
    return parse(this.statements.take.get(token));
  }

  deleteExpired(now: number): void {
    this.statements.deleteExpired.run(now);
  }
}

/** A row another version of carwatch wrote in another shape is a stale button, answered as such. */
function parse(row: { pending: string } | undefined): Pending | undefined {
  if (!row) return undefined;
  const parsed = pendingSchema.safeParse(JSON.parse(row.pending));
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
