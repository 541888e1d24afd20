import type Database from "better-sqlite3";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

/** A token's role: one of the chat roles, or `ingest` (may only send readings). */
export const TOKEN_ROLES = ["ingest", "viewer", "operator", "admin"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export interface ApiToken {
  id: number;
  name: string;
  role: TokenRole;
  /** An ingest token limited to these cars; null: any car. */
  carIds: number[] | null;
  createdBy: number;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

type Row = {
  id: number;
  name: string;
  role: TokenRole;
  car_ids: string | null;
  created_by: number;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
};
const toToken = (r: Row): ApiToken => ({
  id: r.id,
  name: r.name,
  role: r.role,
  carIds: r.car_ids === null ? null : (JSON.parse(r.car_ids) as number[]),
  createdBy: r.created_by,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

/** The `api_tokens` rows: a token under the hex SHA-256 of its secret (tools/api-tokens.ts hashes it). */
export class ApiTokenTable {
  readonly #db: Database.Database;

  constructor(state: StateStore) {
    this.#db = state[connection];
  }

  insert(t: { name: string; role: TokenRole; carIds: number[] | null; createdBy: number }, hash: string, now: number): ApiToken {
    const info = this.#db
      .prepare("INSERT INTO api_tokens (name, role, car_ids, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(t.name, t.role, t.carIds ? JSON.stringify(t.carIds) : null, hash, t.createdBy, now);
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): ApiToken | null {
    const r = this.#db.prepare("SELECT * FROM api_tokens WHERE id = ?").get(id) as Row | undefined;
    return r ? toToken(r) : null;
  }

  list(): ApiToken[] {
    return (this.#db.prepare("SELECT * FROM api_tokens ORDER BY id").all() as Row[]).map(toToken);
  }

  /** Returns false when the token was already revoked or never existed. */
  revoke(id: number, now: number): boolean {
    return this.#db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now, id).changes === 1;
  }

  /** The unrevoked token stored under this hash, or null. */
  live(hash: string): ApiToken | null {
    const r = this.#db.prepare("SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL").get(hash) as Row | undefined;
    return r ? toToken(r) : null;
  }

  noteUse(id: number, now: number): void {
    this.#db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now, id);
  }
}
