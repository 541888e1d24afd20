import { randomBytes } from "node:crypto";

/** How long a code stays valid, and how many one session may hold (the oldest go first). */
const VALID_MS = 5 * 60_000;
const MAX_PENDING = 20;

/**
 * One-time confirmation codes for destructive calls from MCP clients that
 * cannot ask their user (no elicitation). A code names one call — tool and
 * arguments — of one session: a model cannot send it before it has been
 * told to ask its user, reuse it, or carry it over to other arguments.
 */
export class ConfirmationCodes {
  private readonly pending = new Map<string, { call: string; expiresAt: number }>();

  constructor(private readonly clock: () => number) {}

  issue(tool: string, args: Record<string, unknown>): string {
    const now = this.clock();
    for (const [code, p] of this.pending) if (p.expiresAt <= now || this.pending.size >= MAX_PENDING) this.pending.delete(code);
    const code = randomBytes(9).toString("base64url");
    this.pending.set(code, { call: callKey(tool, args), expiresAt: now + VALID_MS });
    return code;
  }

  /** Whether the code was issued for exactly this call and is still valid; it is used up either way. */
  take(code: string, tool: string, args: Record<string, unknown>): boolean {
    const p = this.pending.get(code);
    this.pending.delete(code);
    return p !== undefined && p.expiresAt > this.clock() && p.call === callKey(tool, args);
  }
}

export const CODE_VALID_MINUTES = VALID_MS / 60_000;

/** The call as text with object keys sorted, so the same arguments in another order are the same call. */
function callKey(tool: string, args: Record<string, unknown>): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v;
  return JSON.stringify([tool, sorted(args)]);
}
