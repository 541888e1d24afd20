import { readFileSync } from "node:fs";

const dir = new URL("../prompts/", import.meta.url);
const SYSTEM = readFileSync(new URL("system.md", dir), "utf8");
const EXAMPLES = readFileSync(new URL("examples.md", dir), "utf8");

/**
 * Time hints name the time of the facts line, never the database's own clock
 * (SQLite's datetime('now'), Trino's current_timestamp): carwatch's clock is
 * the one every tool uses, and the eval's is fixed.
 */
const DIALECTS = {
  sqlite:
    "SQLite. Times are UTC text 'YYYY-MM-DD HH:MM:SS.SSS'; for the last hour write event_time >= datetime('<now>', '-1 hour') with <now> the time of the facts line (not datetime('now')); strftime for buckets.",
  trino:
    "Trino. Times are timestamp(6) with time zone; for the last hour write event_time >= TIMESTAMP '<now> UTC' - INTERVAL '1' HOUR with <now> the time of the facts line (not current_timestamp); date_trunc for buckets.",
} as const;

export type Dialect = keyof typeof DIALECTS;

/** What the system prompt says: the same for every turn of a role, so a server's prompt cache keeps it. */
export interface PromptSettings {
  dialect: Dialect;
  role: string;
  /** The destructive tools the role may call: they wait for the user's button. */
  confirmed: readonly string[];
}

/** What changes from turn to turn: it goes with the question, after the cached prefix. */
export interface TurnFacts {
  now: number;
  stages: readonly { name: string; kind: string; state: string; lastError: string | null }[];
}

const CONFIRMED_LEAD = "These tools change the running system and wait for the user's button before they run:";

/** The system prompt of a role. */
export function systemPrompt(s: PromptSettings): string {
  const confirmed = s.confirmed.length
    ? `${CONFIRMED_LEAD} ${s.confirmed.join(", ")}. Every other tool runs at once, so call a tool only for what the user asked.`
    : "Call a tool only for what the user asked.";
  const values: Record<string, string> = { role: s.role, dialect: DIALECTS[s.dialect], confirmed, examples: EXAMPLES.trim() };
  return SYSTEM.replace(/\{\{(\w+)\}\}/g, (_, k: string) => values[k] ?? "");
}

/** The tools a system prompt says wait for the button (for the test that the registry agrees). */
export function promptedConfirmed(prompt: string): string[] {
  const line = prompt.split("\n").find((l) => l.includes(CONFIRMED_LEAD));
  return line
    ? line
        .split(CONFIRMED_LEAD)[1]!
        .split(".")[0]!
        .split(",")
        .map((t) => t.trim())
    : [];
}

/** `2026-12-02 14:37:00`: to the minute, so the facts line stays the same within a minute, in the form SQL takes. */
export const minuteOf = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")}:00`;

/** The facts line that begins the question the model reads. */
export function factsLine(f: TurnFacts): string {
  const stages = f.stages.map((s) => `${s.name} ${s.state}${s.lastError ? ` (last error: ${s.lastError.slice(0, 120)})` : ""}`).join(", ");
  return `[now: ${minuteOf(f.now)} UTC; stages: ${stages || "none"}]`;
}

/** The query tool's description with the tables it may read, so the tables travel with the tool, not in every prompt. */
export function withTables(description: string, tables: readonly { table: string; columns?: string[] }[]): string {
  return `${description} Tables: ${tables.map((t) => `${t.table}(${(t.columns ?? []).join(", ")})`).join("; ")}.`;
}
