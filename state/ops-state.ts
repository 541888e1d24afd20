import type Database from "better-sqlite3";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

export type AuditOutcome = "ok" | "denied" | "invalid" | "needs_confirmation" | "error";

export interface AuditEntry {
  id: number;
  at: number;
  userId: number;
  chatId: number | null;
  via: string;
  tool: string;
  args: unknown;
  outcome: AuditOutcome;
  message: string | null;
  durationMs: number;
}

import type { Severity } from "../domain/rule-spec.js";

export { SEVERITIES, type Severity } from "../domain/rule-spec.js";

export interface Subscription {
  chatId: number;
  /** Forum topic; null for the chat itself. */
  threadId: number | null;
  digests: boolean;
  includeEmpty: boolean;
  /** Lowest severity of new incidents sent at once; null: none. */
  incidentsMin: Severity | null;
}

export interface Silence {
  id: number;
  kind: "car" | "rule";
  value: string;
  until: number;
  userId: number;
}

type SubRow = { chat_id: number; thread_id: number; digests: number; include_empty: number; incidents_min: Severity | null };
const toSub = (r: SubRow): Subscription => ({
  chatId: r.chat_id,
  threadId: r.thread_id === 0 ? null : r.thread_id,
  digests: r.digests === 1,
  includeEmpty: r.include_empty === 1,
  incidentsMin: r.incidents_min,
});

/** The operators' own records in the state DB: audit log, acknowledgements, silences, chat subscriptions. */
export class OpsState {
  readonly #db: Database.Database;

  constructor(state: StateStore) {
    this.#db = state[connection];
  }

  audit(e: Omit<AuditEntry, "id">): void {
    this.#db
      .prepare(`INSERT INTO audit_log (at, user_id, chat_id, via, tool, args, outcome, message, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(e.at, e.userId, e.chatId, e.via, e.tool, JSON.stringify(e.args ?? null), e.outcome, e.message, Math.round(e.durationMs));
  }

  /** Deletes audit entries older than `before` (epoch ms); returns how many. */
  pruneAudit(before: number): number {
    return this.#db.prepare("DELETE FROM audit_log WHERE at < ?").run(before).changes;
  }

  recentAudit(limit: number, userId?: number): AuditEntry[] {
    const rows = (
      userId === undefined
        ? this.#db.prepare(`SELECT * FROM audit_log ORDER BY id DESC LIMIT ?`).all(limit)
        : this.#db.prepare(`SELECT * FROM audit_log WHERE user_id = ? ORDER BY id DESC LIMIT ?`).all(userId, limit)
    ) as {
      id: number;
      at: number;
      user_id: number;
      chat_id: number | null;
      via: string;
      tool: string;
      args: string;
      outcome: AuditOutcome;
      message: string | null;
      duration_ms: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      userId: r.user_id,
      chatId: r.chat_id,
      via: r.via,
      tool: r.tool,
      args: JSON.parse(r.args),
      outcome: r.outcome,
      message: r.message,
      durationMs: r.duration_ms,
    }));
  }

  /** Returns false when the incident was already acknowledged. */
  ack(incidentId: string, userId: number, now: number): boolean {
    return this.#db.prepare(`INSERT OR IGNORE INTO incident_acks (incident_id, user_id, at) VALUES (?, ?, ?)`).run(incidentId, userId, now).changes === 1;
  }

  /** Acknowledgements follow their incidents to new ids (the id conversion at start). */
  renameIncidents(mapping: ReadonlyMap<string, string>): number {
    const rename = this.#db.prepare(`UPDATE OR IGNORE incident_acks SET incident_id = ? WHERE incident_id = ?`);
    return this.#db.transaction(() => [...mapping].reduce((n, [from, to]) => n + rename.run(to, from).changes, 0))();
  }

  acks(incidentIds: readonly string[]): Map<string, { userId: number; at: number }> {
    const out = new Map<string, { userId: number; at: number }>();
    if (incidentIds.length === 0) return out;
    const rows = this.#db
      .prepare(`SELECT incident_id, user_id, at FROM incident_acks WHERE incident_id IN (${incidentIds.map(() => "?").join(",")})`)
      .all(...incidentIds) as { incident_id: string; user_id: number; at: number }[];
    for (const r of rows) out.set(r.incident_id, { userId: r.user_id, at: r.at });
    return out;
  }

  silence(kind: Silence["kind"], value: string, until: number, userId: number, now: number): Silence {
    const id = Number(
      this.#db.prepare(`INSERT INTO silences (kind, value, until, user_id, created_at) VALUES (?, ?, ?, ?, ?)`).run(kind, value, until, userId, now)
        .lastInsertRowid,
    );
    return { id, kind, value, until, userId };
  }

  activeSilences(now: number): Silence[] {
    const rows = this.#db.prepare(`SELECT id, kind, value, until, user_id FROM silences WHERE until > ? ORDER BY until`).all(now) as {
      id: number;
      kind: Silence["kind"];
      value: string;
      until: number;
      user_id: number;
    }[];
    return rows.map((r) => ({ id: r.id, kind: r.kind, value: r.value, until: r.until, userId: r.user_id }));
  }

  isSilenced(carId: number, rule: string, now: number): boolean {
    return this.activeSilences(now).some((s) => (s.kind === "car" ? s.value === String(carId) : s.value === rule));
  }

  subscribe(s: Subscription, now: number): void {
    this.#db
      .prepare(
        `INSERT INTO chat_subscriptions (chat_id, thread_id, digests, include_empty, incidents_min, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (chat_id, thread_id) DO UPDATE SET digests = excluded.digests, include_empty = excluded.include_empty, incidents_min = excluded.incidents_min`,
      )
      .run(s.chatId, s.threadId ?? 0, s.digests ? 1 : 0, s.includeEmpty ? 1 : 0, s.incidentsMin, now);
  }

  /** Subscribes to digests unless the chat already has a subscription (DIGEST_CHATS at start keeps a chat's own choices). */
  subscribeIfAbsent(chatId: number, now: number): boolean {
    return (
      this.#db
        .prepare(
          `INSERT OR IGNORE INTO chat_subscriptions (chat_id, thread_id, digests, include_empty, incidents_min, created_at) VALUES (?, 0, 1, 0, NULL, ?)`,
        )
        .run(chatId, now).changes === 1
    );
  }

  unsubscribe(chatId: number, threadId: number | null): boolean {
    return this.#db.prepare(`DELETE FROM chat_subscriptions WHERE chat_id = ? AND thread_id = ?`).run(chatId, threadId ?? 0).changes === 1;
  }

  subscriptions(): Subscription[] {
    return (this.#db.prepare(`SELECT * FROM chat_subscriptions ORDER BY chat_id, thread_id`).all() as SubRow[]).map(toSub);
  }

  subscription(chatId: number, threadId: number | null): Subscription | null {
    const r = this.#db.prepare(`SELECT * FROM chat_subscriptions WHERE chat_id = ? AND thread_id = ?`).get(chatId, threadId ?? 0) as SubRow | undefined;
    return r ? toSub(r) : null;
  }
}
