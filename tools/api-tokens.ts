import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { StateStore } from "../state/store.js";
import type { Role } from "./roles.js";

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

/**
 * Callers through the API are the tokens: user id TOKEN_USER_BASE + token id
 * (the environment's admin token is id 0). Above 2^52 like the console's
 * operator, so never a Telegram user id, and below it.
 */
export const TOKEN_USER_BASE = 8_000_000_000_000_000;
export const tokenUserId = (tokenId: number) => TOKEN_USER_BASE + tokenId;
export const tokenIdOf = (userId: number): number | null => (userId >= TOKEN_USER_BASE && userId < TOKEN_USER_BASE + 2 ** 40 ? userId - TOKEN_USER_BASE : null);

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

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * API tokens in the state database, shared by every process on the same
 * DATA_DIR: stored only as SHA-256 hashes, looked up on every request, so a
 * revoked token stops working at once everywhere. `CARWATCH_ADMIN_TOKEN`
 * is an admin token (id 0) that lives in the environment only.
 */
export class TokenBook {
  private readonly envHash: Buffer | null;
  /** When this process last recorded each token's use: at most once a minute, not a write per request. */
  private readonly noted = new Map<number, number>();

  constructor(
    private readonly state: StateStore,
    envAdminToken?: string,
  ) {
    this.envHash = envAdminToken ? sha256(envAdminToken) : null;
  }

  /** Makes a token; its secret is returned here once and never stored. */
  create(t: { name: string; role: TokenRole; carIds: number[] | null; createdBy: number }, now: number): { token: ApiToken; secret: string } {
    const secret = `cw_${randomBytes(32).toString("base64url")}`;
    const info = this.state.db
      .prepare("INSERT INTO api_tokens (name, role, car_ids, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(t.name, t.role, t.carIds ? JSON.stringify(t.carIds) : null, sha256(secret).toString("hex"), t.createdBy, now);
    return { token: this.get(Number(info.lastInsertRowid))!, secret };
  }

  get(id: number): ApiToken | null {
    const r = this.state.db.prepare("SELECT * FROM api_tokens WHERE id = ?").get(id) as Row | undefined;
    return r ? toToken(r) : null;
  }

  list(): ApiToken[] {
    return (this.state.db.prepare("SELECT * FROM api_tokens ORDER BY id").all() as Row[]).map(toToken);
  }

  /** Returns false when the token was already revoked or never existed. */
  revoke(id: number, now: number): boolean {
    return this.state.db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now, id).changes === 1;
  }

  /**
   * The live token a secret names, or null. Compared by hash: the lookup is
   * by the secret's SHA-256, and the environment's token in constant time.
   */
  verify(secret: string, now: number): ApiToken | null {
    const hash = sha256(secret);
    if (this.envHash && timingSafeEqual(hash, this.envHash)) return ENV_ADMIN;
    const r = this.state.db.prepare("SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL").get(hash.toString("hex")) as Row | undefined;
    if (!r) return null;
    const noted = this.noted.get(r.id);
    if (noted === undefined || now - noted >= 60_000) {
      this.noted.set(r.id, now);
      this.state.db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now, r.id);
    }
    return toToken(r);
  }

  /** The chat role of a token's user id, read now: revoked or ingest-only tokens call no tool. */
  roleOf(tokenId: number): Role | null {
    if (tokenId === 0) return this.envHash ? "admin" : null;
    const t = this.get(tokenId);
    return !t || t.revokedAt !== null || t.role === "ingest" ? null : t.role;
  }
}

const ENV_ADMIN: ApiToken = { id: 0, name: "CARWATCH_ADMIN_TOKEN", role: "admin", carIds: null, createdBy: 0, createdAt: 0, revokedAt: null, lastUsedAt: null };
