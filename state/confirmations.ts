import type Database from "better-sqlite3";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

/**
 * Pending confirmations' rows (`bot_confirmations`): a JSON document under
 * its button's token until it expires, shared by every process on the same
 * DATA_DIR. What the document holds is the bot's (bot/confirmation-storage.ts).
 */
export class ConfirmationRows {
  readonly #statements;

  constructor(state: StateStore) {
    const db: Database.Database = state[connection];
    this.#statements = {
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

  read(token: string): string | undefined {
    return this.#statements.read.get(token)?.pending;
  }

  write(token: string, pending: string, expiresAt: number): void {
    this.#statements.write.run(token, pending, expiresAt);
  }

  delete(token: string): void {
    this.#statements.delete.run(token);
  }

  /** Reads and deletes the row: of two processes taking one token, one gets it. */
  take(token: string): string | undefined {
    return this.#statements.take.get(token)?.pending;
  }

  deleteExpired(now: number): void {
    this.#statements.deleteExpired.run(now);
  }
}
