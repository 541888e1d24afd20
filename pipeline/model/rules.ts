import { z } from "zod";
import type { EnrichedEvent, RuleName } from "../../domain/events.js";

export const ruleThresholdsSchema = z.object({
  speedLimit: z.number().positive().default(120),
  rpmLimit: z.number().positive().default(6000),
});
export type RuleThresholds = z.output<typeof ruleThresholdsSchema>;

export interface RuleResult {
  rule: RuleName;
  value: number;
  threshold: number;
}

/**
 * The alert rules. Strictly greater than the threshold fires, as the old
 * platform did; wrong gear compares with the same gear model the simulator uses.
 */
export function evaluateRules(e: EnrichedEvent, t: RuleThresholds): RuleResult[] {
  const hits: RuleResult[] = [];
  if (e.speed > t.speedLimit) hits.push({ rule: "speeding", value: e.speed, threshold: t.speedLimit });
  if (e.rpm > t.rpmLimit) hits.push({ rule: "high_rpm", value: e.rpm, threshold: t.rpmLimit });
  if (e.gear !== e.expected_gear) hits.push({ rule: "wrong_gear", value: e.gear, threshold: e.expected_gear });
  return hits;
}
