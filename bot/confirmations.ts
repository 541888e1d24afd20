import { randomBytes } from "node:crypto";
import type { StorageAdapter } from "grammy";

export interface Pending {
  tool: string;
  input: unknown;
  userId: number;
  chatId: number;
  expiresAt: number;
}

/**
 * Where pending confirmations live, by token: grammY's StorageAdapter shape
 * (read, write, delete), answered synchronously, plus `take`, which reads and
 * deletes in one step, so of two presses of one button (perhaps on two
 * processes) only one gets the call; and `deleteExpired`, so buttons never
 * pressed do not pile up.
 */
export interface PendingStorage extends StorageAdapter<Pending> {
  read(token: string): Pending | undefined;
  write(token: string, pending: Pending): void;
  delete(token: string): void;
  take(token: string): Pending | undefined;
  deleteExpired(now: number): void;
}

/**
 * Destructive calls waiting for their button: a random token in the
 * callback data points here, so a button cannot carry (or be forged with) a
 * tool and its arguments. With the state database's storage
 * (confirmation-storage.ts) a button works on any process sharing it, and
 * after a restart until it expires.
 */
export class Confirmations {
  constructor(
    private readonly storage: PendingStorage,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get ttlSeconds(): number {
    return Math.round(this.ttlMs / 1000);
  }

  add(p: Omit<Pending, "expiresAt">): string {
    const now = this.clock();
    this.storage.deleteExpired(now);
    const token = randomBytes(9).toString("base64url");
    this.storage.write(token, { ...p, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Takes the pending call for this user; says why not otherwise. */
  take(token: string, userId: number): Pending | "unknown" | "expired" | "not_yours" {
    // Read first: someone else's press must leave the confirmation in place.
    const p = this.storage.read(token);
    if (!p) return "unknown";
    if (p.userId !== userId) return "not_yours";
    const taken = this.storage.take(token);
    if (!taken) return "unknown";
    return taken.expiresAt <= this.clock() ? "expired" : taken;
  }
}
