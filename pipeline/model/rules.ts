import { z } from "zod";
import type { RuleSpec } from "../../domain/rule-spec.js";

export const ruleThresholdsSchema = z.object({
  speedLimit: z.number().positive().default(120),
  rpmLimit: z.number().positive().default(6000),
});
export type RuleThresholds = z.output<typeof ruleThresholdsSchema>;

/** The first wave's rule names, which the tables, digests and dashboards of existing deployments carry. */
export const FIRST_WAVE_RULES = ["speeding", "high_rpm", "wrong_gear"] as const;

/**
 * Detectors of the kinds beyond thresholds, seeded disabled beside the first
 * wave's rules (so digests and dashboards read as before until someone turns
 * one on from /rules or enable_rule); the simulator produces each of them
 * (ANOMALY_HARSH_BRAKING_RATE and the others).
 */
export function detectorExamples(clearSeconds: number): RuleSpec[] {
  const rule = (name: string, condition: RuleSpec["condition"], severity: RuleSpec["severity"]): RuleSpec => ({
    name,
    condition,
    scope: {},
    severity,
    clear_seconds: clearSeconds,
  });
  return [
    rule("harsh_braking", { kind: "harsh_braking", kmh_per_s: 25 }, "medium"),
    rule("stuck_sensor", { kind: "stuck_sensor", field: "rpm", readings: 15 }, "low"),
    rule("went_quiet", { kind: "silence", minutes: 2 }, "medium"),
    rule("rpm_baseline", { kind: "baseline", field: "rpm", k: 6, warmup: 100, alpha: 0.01, band_kmh: 5 }, "low"),
  ];
}

/**
 * The rules a new deployment starts with: the first wave's three, from the
 * configured thresholds (SPEED_LIMIT, RPM_LIMIT, INCIDENT_GAP_SECONDS as the
 * clear time). Strictly greater fires, as the old platform did.
 */
export function firstWaveRules(t: RuleThresholds, clearSeconds: number): RuleSpec[] {
  return [
    {
      name: "speeding",
      condition: { kind: "threshold", field: "speed", op: ">", value: t.speedLimit },
      scope: {},
      severity: "medium",
      clear_seconds: clearSeconds,
    },
    {
      name: "high_rpm",
      condition: { kind: "threshold", field: "rpm", op: ">", value: t.rpmLimit },
      scope: {},
      severity: "medium",
      clear_seconds: clearSeconds,
    },
    { name: "wrong_gear", condition: { kind: "wrong_gear", tolerance: 0 }, scope: {}, severity: "low", clear_seconds: clearSeconds },
  ];
}
