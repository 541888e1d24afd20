import type { Severity } from "../state/ops-state.js";

/**
 * How bad an incident is: a wrong gear is a driving habit (low); breaking a
 * speed or rpm limit is medium, and high once the peak is 20 % past it.
 */
export function severity(rule: string, peak: number, threshold: number): Severity {
  if (rule === "wrong_gear") return "low";
  return threshold > 0 && peak >= threshold * 1.2 ? "high" : "medium";
}

export function atLeast(s: Severity, min: Severity): boolean {
  const rank = { low: 0, medium: 1, high: 2 } as const;
  return rank[s] >= rank[min];
}
