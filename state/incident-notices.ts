import type Database from "better-sqlite3";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

/** A chat that got an incident's opening notice. */
export interface NoticeTarget {
  chatId: number;
  /** Forum topic; null for the chat itself. */
  threadId: number | null;
}

/** Rows older than this are pruned: an incident open a week is told of no more. */
const KEEP_MS = 7 * 86_400_000;

/**
 * Where each incident's opening notice went, per listener (the Telegram
 * bot's consumer group, or a console's): recorded when the feed hands the
 * notice over, with the message id once it is sent, so the resolved notice
 * reaches exactly those chats, as a reply to that message. Shared by every
 * process on the state database, so the process that hears the resolution
 * need not be the one that sent the opening.
 */
export class IncidentNotices {
  readonly #db: Database.Database;

  constructor(state: StateStore) {
    this.#db = state[connection];
  }

  /** The opening notice is on its way to this chat (a redelivered one changes nothing). */
  owed(listener: string, incidentId: string, to: NoticeTarget, now: number): void {
    this.#db.prepare("DELETE FROM incident_notices WHERE noticed_at < ?").run(now - KEEP_MS);
    this.#db
      .prepare("INSERT INTO incident_notices (listener, incident_id, chat_id, thread_id, noticed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .run(listener, incidentId, to.chatId, to.threadId ?? 0, now);
  }

  /** The opening notice was sent as this message. */
  sent(listener: string, incidentId: string, to: NoticeTarget, messageId: number): void {
    this.#db
      .prepare("UPDATE incident_notices SET message_id = ? WHERE listener = ? AND incident_id = ? AND chat_id = ? AND thread_id = ?")
      .run(messageId, listener, incidentId, to.chatId, to.threadId ?? 0);
  }

  /** The chats owed the resolved notice, each once: a resolution heard again (a redelivery) finds none. */
  resolve(listener: string, incidentId: string): NoticeTarget[] {
    const rows = this.#db
      .prepare("UPDATE incident_notices SET resolved = 1 WHERE listener = ? AND incident_id = ? AND resolved = 0 RETURNING chat_id, thread_id")
      .all(listener, incidentId) as { chat_id: number; thread_id: number }[];
    return rows.map((r) => ({ chatId: r.chat_id, threadId: r.thread_id === 0 ? null : r.thread_id })).sort((a, b) => a.chatId - b.chatId);
  }

  /** The opening notice's message id, null while it is unsent (or if it never was). */
  messageId(listener: string, incidentId: string, to: NoticeTarget): number | null {
    const id = this.#db
      .prepare("SELECT message_id FROM incident_notices WHERE listener = ? AND incident_id = ? AND chat_id = ? AND thread_id = ?")
      .pluck()
      .get(listener, incidentId, to.chatId, to.threadId ?? 0) as number | null | undefined;
    return id ?? null;
  }
}
