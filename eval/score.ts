/**
 * How an answer is scored against the truth: the numbers and names it must
 * contain, the confirmation a destructive request must end in.
 */
import type { AgentReply } from "../agent/agent.js";
import type { AuditEntry } from "../state/ops-state.js";
import type { BotPipeline } from "../test/support/bot-pipeline.js";

/** What a case's truth and checks read: the lakehouse and the state database by SQL, on the eval's fixed clock. */
export interface Truth {
  now: number;
  p: BotPipeline;
  /** Lakehouse rows. */
  sql<T = Record<string, unknown>>(text: string, ...params: unknown[]): T[];
  /** State database rows. */
  state<T = Record<string, unknown>>(text: string, ...params: unknown[]): T[];
}

export interface Outcome {
  reply: AgentReply;
  /** The agent's calls that ran, from the audit log. */
  ran: AuditEntry[];
  /** The databases after the turn. */
  after: Truth;
}

/** null when the reply is right; otherwise what is wrong with it. */
export type Check<T> = (o: Outcome, truth: T) => string | null;

const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[_\s-]+/g, " ")
    .trim();
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The numbers written in a text ("1,974" is 1974), each with its count of decimals. */
export function numbersIn(text: string): { value: number; decimals: number }[] {
  return [...text.matchAll(/\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g)].map(([m]) => {
    const s = m.replace(/,/g, "");
    return { value: Number(s), decimals: s.split(".")[1]?.length ?? 0 };
  });
}

/** An integer must stand exactly; a fraction as written rounded to any precision (62.48 as 62.5 or 62). */
export function mentions(text: string, v: string | number): boolean {
  if (typeof v === "string") return new RegExp(`(^|[^a-z0-9])${literal(norm(v))}($|[^a-z0-9])`).test(norm(text));
  return numbersIn(text).some((n) => (Number.isInteger(v) ? n.value === v : Math.abs(n.value - v) <= 0.5 * 10 ** -n.decimals + 1e-9));
}

const UNITS: Record<string, number[]> = { b: [1], bytes: [1], kb: [1e3, 1024], kib: [1024], mb: [1e6, 2 ** 20], mib: [2 ** 20], gb: [1e9, 2 ** 30] };

/** A size in bytes, written as bytes or in KB/KiB/MB/MiB rounded as written ("0.6 MB" for 634,880). */
export function mentionsBytes(text: string, bytes: number): boolean {
  if (mentions(text, bytes)) return true;
  return [...text.matchAll(/(\d+(?:\.\d+)?)\s*(bytes|b|kib|kb|mib|mb|gb)\b/gi)].some(([, n, unit]) => {
    const decimals = n!.split(".")[1]?.length ?? 0;
    return UNITS[unit!.toLowerCase()]!.some((u) => Math.abs(Number(n) * u - bytes) <= 0.5 * 10 ** -decimals * u);
  });
}

const answerOf = (reply: AgentReply): string | null => (reply.kind === "answer" ? reply.text : null);

/** The answer names every value the truth gives (numbers, names). */
export function says<T>(values: (truth: T) => (string | number)[]): Check<T> {
  return ({ reply }, truth) => {
    const text = answerOf(reply);
    if (text === null) return `${reply.kind} reply, not an answer`;
    const missing = values(truth).filter((v) => !mentions(text, v));
    return missing.length ? `missing ${missing.map((v) => (typeof v === "number" ? +v.toFixed(2) : v)).join(", ")}` : null;
  };
}

/** The reply is a confirmation that proposes this tool, with arguments that pass `args`. */
export function proposes<T>(tool: string, args: (a: Record<string, unknown>) => boolean = () => true): Check<T> {
  return ({ reply }) => {
    if (reply.kind !== "confirm") return `${reply.kind} reply, not a confirmation of ${tool}`;
    const match = reply.actions.some((a) => a.tool === tool && args((a.args ?? {}) as Record<string, unknown>));
    return match ? null : `proposed ${JSON.stringify(reply.actions)}`;
  };
}

/** Either check passes. */
export function either<T>(a: Check<T>, b: Check<T>): Check<T> {
  return (o, truth) => {
    const first = a(o, truth);
    if (first === null) return null;
    const second = b(o, truth);
    return second === null ? null : `${first}; ${second}`;
  };
}
