import type { Config } from "../core/config.js";
import { tokenIdOf } from "./api-tokens.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/**
 * The local web console's operator (web/console.ts). Telegram user ids have at
 * most 52 significant bits, so this id (above 2^52, below 2^53) can never be a
 * Telegram user's: only the console's own updates carry it. Its role is admin.
 */
export const CONSOLE_USER_ID = 9_000_000_000_000_001;

/** The scheduler's cron jobs, calling tools as a system caller (via "scheduler"); an admin, like the console. */
export const SCHEDULER_USER_ID = 9_000_000_000_000_002;

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function hasRole(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}

/** Who may do what, from TELEGRAM_ADMINS / TELEGRAM_OPERATORS / TELEGRAM_VIEWERS (plus the console's operator and the scheduler, admins); the highest listing wins. */
export class RoleBook {
  private readonly roles = new Map<number, Role>();

  /** `tokens`: the API tokens' roles, read at every call (a revoked token has none). */
  constructor(
    lists: { admins: readonly number[]; operators: readonly number[]; viewers: readonly number[] },
    private readonly tokens?: { roleOf(tokenId: number): Role | null },
  ) {
    for (const id of lists.viewers) this.roles.set(id, "viewer");
    for (const id of lists.operators) this.roles.set(id, "operator");
    for (const id of lists.admins) this.roles.set(id, "admin");
  }

  static fromConfig(
    config: Pick<Config, "TELEGRAM_ADMINS" | "TELEGRAM_OPERATORS" | "TELEGRAM_VIEWERS">,
    tokens?: { roleOf(tokenId: number): Role | null },
  ): RoleBook {
    return new RoleBook(
      { admins: [...config.TELEGRAM_ADMINS, CONSOLE_USER_ID, SCHEDULER_USER_ID], operators: config.TELEGRAM_OPERATORS, viewers: config.TELEGRAM_VIEWERS },
      tokens,
    );
  }

  roleOf(userId: number): Role | null {
    const tokenId = tokenIdOf(userId);
    if (tokenId !== null) return this.tokens?.roleOf(tokenId) ?? null;
    return this.roles.get(userId) ?? null;
  }
}
