import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

/**
 * The update ids the webhook took, in state.db, so an update Telegram
 * delivers again (to this process, another one sharing DATA_DIR, or this one
 * after a restart) runs once. A window of the newest `window` ids (by arrival,
 * the table's rowid): Telegram redelivers within minutes and keeps an update
 * 24 h at most, while the ids themselves may restart anywhere after a quiet
 * week, so arrival order, not id order, says what is old.
 */
export class SeenUpdates {
  private readonly seen;
  private readonly record;

  constructor(state: StateStore, window = 10_000) {
    const db = state[connection];
    this.seen = db.prepare<[number, number]>(`SELECT 1 FROM telegram_updates_seen WHERE bot_id = ? AND update_id = ?`).pluck();
    const insert = db.prepare<[number, number]>(`INSERT INTO telegram_updates_seen (bot_id, update_id) VALUES (?, ?) ON CONFLICT DO NOTHING`);
    const prune = db.prepare<[number]>(`DELETE FROM telegram_updates_seen WHERE rowid <= (SELECT max(rowid) FROM telegram_updates_seen) - ?`);
    this.record = db.transaction((botId: number, updateId: number): boolean => {
      if (insert.run(botId, updateId).changes === 0) return false;
      prune.run(window);
      return true;
    });
  }

  has(botId: number, updateId: number): boolean {
    return this.seen.get(botId, updateId) !== undefined;
  }

  /** Records the update as taken: true the first time, false for a redelivery. */
  take(botId: number, updateId: number): boolean {
    // The INSERT decides: of two processes taking the same update, one inserts, the other changes nothing.
    return this.record(botId, updateId);
  }
}
