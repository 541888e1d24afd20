import { readFileSync } from "node:fs";

const dir = new URL("../prompts/", import.meta.url);
const SYSTEM = readFileSync(new URL("system.md", dir), "utf8");
const EXAMPLES = readFileSync(new URL("examples.md", dir), "utf8");

const DIALECTS = {
  sqlite: "SQLite. Times are UTC text 'YYYY-MM-DD HH:MM:SS.SSS'; compare with datetime('now', '-1 hour'); strftime for buckets.",
  trino: "Trino. Times are timestamp(6) with time zone; compare with current_timestamp - INTERVAL '1' HOUR; date_trunc for buckets.",
} as const;

export interface PromptFacts {
  dialect: keyof typeof DIALECTS;
  tables: readonly { table: string; columns?: string[] }[];
  stages: readonly { name: string; kind: string; state: string; lastError: string | null }[];
  role: string;
  now: number;
}

/** The system prompt, filled with what is true at this moment. */
export function systemPrompt(f: PromptFacts): string {
  const values: Record<string, string> = {
    // To the minute: the prompt stays the same within a minute, so a server's prompt cache can reuse it.
    now: `${new Date(f.now).toISOString().slice(0, 16)}Z`,
    role: f.role,
    dialect: DIALECTS[f.dialect],
    stages: f.stages.map((s) => `  - ${s.name} (${s.kind}): ${s.state}${s.lastError ? `, last error: ${s.lastError}` : ""}`).join("\n"),
    tables: f.tables.map((t) => `  - ${t.table}: ${(t.columns ?? []).join(", ")}`).join("\n"),
    examples: EXAMPLES.trim(),
  };
  return SYSTEM.replace(/\{\{(\w+)\}\}/g, (_, k: string) => values[k] ?? "");
}
