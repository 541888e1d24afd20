import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type ApiToken, ApiTokenTable, type TokenRole } from "../state/api-tokens-table.js";
import type { StateStore } from "../state/store.js";
import type { Role } from "./roles.js";

/**
 * Callers through the API are the tokens: user id TOKEN_USER_BASE + token id
 * (the environment's admin token is id 0). Above 2^52 like the console's
 * operator, so never a Telegram user id, and below it.
 */
export const TOKEN_USER_BASE = 8_000_000_000_000_000;
export const tokenUserId = (tokenId: number) => TOKEN_USER_BASE + tokenId;
export const tokenIdOf = (userId: number): number | null => (userId >= TOKEN_USER_BASE && userId < TOKEN_USER_BASE + 2 ** 40 ? userId - TOKEN_USER_BASE : null);

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * API tokens in the state database, shared by every process on the same
 * DATA_DIR: stored only as SHA-256 hashes, looked up on every request, so a
 * revoked token stops working at once everywhere. `CARWATCH_ADMIN_TOKEN`
 * is an admin token (id 0) that lives in the environment only.
 */
export class TokenBook {
  private readonly table: ApiTokenTable;
  private readonly envHash: Buffer | null;
  /** When this process last recorded each token's use: at most once a minute, not a write per request. */
  private readonly noted = new Map<number, number>();

  constructor(state: StateStore, envAdminToken?: string) {
    this.table = new ApiTokenTable(state);
    this.envHash = envAdminToken ? sha256(envAdminToken) : null;
  }

  /** Makes a token; its secret is returned here once and never stored. */
  create(t: { name: string; role: TokenRole; carIds: number[] | null; createdBy: number }, now: number): { token: ApiToken; secret: string } {
    const secret = `cw_${randomBytes(32).toString("base64url")}`;
    return { token: this.table.insert(t, sha256(secret).toString("hex"), now), secret };
  }

  get(id: number): ApiToken | null {
    return this.table.get(id);
  }

  list(): ApiToken[] {
    return this.table.list();
  }

  /** Returns false when the token was already revoked or never existed. */
  revoke(id: number, now: number): boolean {
    return this.table.revoke(id, now);
  }

  /**
   * The live token a secret names, or null. Compared by hash: the lookup is
   * by the secret's SHA-256, and the environment's token in constant time.
   */
  verify(secret: string, now: number): ApiToken | null {
    const hash = sha256(secret);
    if (this.envHash && timingSafeEqual(hash, this.envHash)) return ENV_ADMIN;
    const token = this.table.live(hash.toString("hex"));
    if (!token) return null;
    const noted = this.noted.get(token.id);
    if (noted === undefined || now - noted >= 60_000) {
      this.noted.set(token.id, now);
      this.table.noteUse(token.id, now);
    }
    return token;
  }

  /** The chat role of a token's user id, read now: revoked or ingest-only tokens call no tool. */
  roleOf(tokenId: number): Role | null {
    if (tokenId === 0) return this.envHash ? "admin" : null;
    const t = this.get(tokenId);
    return !t || t.revokedAt !== null || t.role === "ingest" ? null : t.role;
  }
}

const ENV_ADMIN: ApiToken = { id: 0, name: "CARWATCH_ADMIN_TOKEN", role: "admin", carIds: null, createdBy: 0, createdAt: 0, revokedAt: null, lastUsedAt: null };
