import type { Rule, RuleKind, Severity } from "../../domain/rule-spec.js";

/** One rule firing on one reading (or, for silence, on a car's last reading). */
export interface RuleFiring {
  rule_id: string;
  /** The rule's name. */
  rule: string;
  version: number;
  kind: RuleKind;
  severity: Severity;
  value: number;
  threshold: number;
  event_id: string;
  event_time: number;
  car_id: number;
}

/** Firings collected for one call: null until the first (a reading that fires nothing allocates nothing). */
export type Firings = RuleFiring[] | null;

export function fire(out: Firings, rule: Rule, value: number, threshold: number, event_id: string, event_time: number, car_id: number): Firings {
  const f = {
    rule_id: rule.id,
    rule: rule.name,
    version: rule.version,
    kind: rule.condition.kind,
    severity: rule.severity,
    value,
    threshold,
    event_id,
    event_time,
    car_id,
  };
  if (out === null) return [f];
  out.push(f);
  return out;
}
