import { randomBytes } from "node:crypto";

export interface Pending {
  tool: string;
  input: unknown;
  userId: number;
  chatId: number;
  expiresAt: number;
}

/**
 * Destructive calls waiting for their button: a random token in the
 * callback data points here, so a button cannot carry (or be forged with) a
 * tool and its arguments. Kept in memory: after a restart old buttons are stale.
 */
export class Confirmations {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get ttlSeconds(): number {
    return Math.round(this.ttlMs / 1000);
  }

  add(p: Omit<Pending, "expiresAt">): string {
    const now = this.clock();
    for (const [k, v] of this.pending) if (v.expiresAt <= now) this.pending.delete(k);
    const token = randomBytes(9).toString("base64url");
    this.pending.set(token, { ...p, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Takes the pending call for this user; says why not otherwise. */
  take(token: string, userId: number): Pending | "unknown" | "expired" | "not_yours" {
    const p = this.pending.get(token);
    if (!p) return "unknown";
    if (p.userId !== userId) return "not_yours";
    this.pending.delete(token);
    return p.expiresAt <= this.clock() ? "expired" : p;
  }
}
