import type { Rule, Severity } from "../domain/rule-spec.js";

const LEVELS: readonly Severity[] = ["low", "medium", "high"];

/**
 * How bad an incident (or the alert that opened it) is: its rule's severity,
 * one level higher once a threshold rule's peak is 20 % past its limit (a
 * speed or rpm limit broken by far), as the first wave judged.
 */
export function severity(base: Severity, rule: Pick<Rule, "condition"> | undefined, peak: number): Severity {
  const c = rule?.condition;
  const far = c?.kind === "threshold" && (c.op === ">" || c.op === ">=") && c.value > 0 && peak >= c.value * 1.2;
  return far ? LEVELS[Math.min(LEVELS.indexOf(base) + 1, LEVELS.length - 1)]! : base;
}

export function atLeast(s: Severity, min: Severity): boolean {
  return LEVELS.indexOf(s) >= LEVELS.indexOf(min);
}
