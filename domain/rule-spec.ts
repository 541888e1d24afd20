import { z } from "zod";

/**
 * A rule as data: what `create_rule` takes (structured; the one-line
 * expression parses to this), what the rule table stores, and what every
 * process's rule engine evaluates. The three rules of the first wave are
 * rows of this shape (`speeding`, `high_rpm`, `wrong_gear`).
 */

export const RULE_FIELDS = ["speed", "rpm", "gear"] as const;
export type RuleField = (typeof RULE_FIELDS)[number];
export const COMPARATORS = [">", ">=", "<", "<="] as const;
export type Comparator = (typeof COMPARATORS)[number];
// The same levels as incident notices' subscriptions (a chat asks for incidents of at least one).
export const SEVERITIES = ["low", "medium", "high"] as const;
export type Severity = (typeof SEVERITIES)[number];

const seconds = z.number().positive().max(86_400);

export const ruleConditionSchema = z.discriminatedUnion("kind", [
  // field op value; with for_seconds it fires once the condition has held that long in event time.
  z.object({
    kind: z.literal("threshold"),
    field: z.enum(RULE_FIELDS),
    op: z.enum(COMPARATORS),
    value: z.number().finite(),
    for_seconds: seconds.optional(),
  }),
  // |gear − expected gear| > tolerance.
  z.object({ kind: z.literal("wrong_gear"), tolerance: z.number().int().min(0).max(5) }),
  // Speed change between a car's consecutive readings, in km/h per second.
  z.object({ kind: z.literal("harsh_acceleration"), kmh_per_s: z.number().positive().max(200) }),
  z.object({ kind: z.literal("harsh_braking"), kmh_per_s: z.number().positive().max(200) }),
  // The same value for N consecutive readings while the car moves.
  z.object({ kind: z.literal("stuck_sensor"), field: z.enum(["speed", "rpm"]), readings: z.number().int().min(2).max(10_000) }),
  // A car that was moving has sent nothing for N minutes, judged on the watermark.
  z.object({ kind: z.literal("silence"), minutes: z.number().positive().max(1440) }),
  // Learned normal: an exponentially weighted mean and variance of rpm per car and speed band; fires at |z| > k after warm-up.
  z.object({
    kind: z.literal("baseline"),
    field: z.literal("rpm"),
    k: z.number().positive().max(100),
    warmup: z.number().int().min(2).max(100_000),
    alpha: z.number().gt(0).lt(1),
    band_kmh: z.number().positive().max(400),
  }),
]);
export type RuleCondition = z.output<typeof ruleConditionSchema>;
export type RuleKind = RuleCondition["kind"];
export const RULE_KINDS = ruleConditionSchema.options.map((o) => o.shape.kind.value) as RuleKind[];

/** Which cars a rule applies to. No key: all cars. Within a key any listed value matches; every given key must match. */
export const ruleScopeSchema = z
  .object({
    brands: z.array(z.string().min(1)).min(1).optional(),
    models: z.array(z.string().min(1)).min(1).optional(),
    colors: z.array(z.string().min(1)).min(1).optional(),
    car_ids: z.array(z.number().int().positive()).min(1).optional(),
  })
  .strict();
export type RuleScope = z.output<typeof ruleScopeSchema>;

export const ruleNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/, "a rule name is lower case letters, digits and _, starting with a letter, at most 40 characters");

/** What a person (or the agent) writes: everything but the bookkeeping. */
export const ruleSpecSchema = z
  .object({
    name: ruleNameSchema,
    condition: ruleConditionSchema,
    scope: ruleScopeSchema.default({}),
    severity: z.enum(SEVERITIES).default("medium"),
    // An incident of this rule resolves once its condition has been clear this long (event time, on the watermark).
    clear_seconds: seconds.default(60),
  })
  .strict();
export type RuleSpec = z.output<typeof ruleSpecSchema>;

/** A stored rule. `version` grows by one with every change; alerts record id and version. */
export interface Rule extends RuleSpec {
  id: string;
  enabled: boolean;
  version: number;
  updated_by: string;
  updated_at: number;
}

/** The car attributes a scope is judged on (an enriched reading has them). */
export interface ScopedCar {
  car_id: number;
  brand_name: string;
  model_name: string;
  color_name: string;
}

export function inScope(scope: RuleScope, car: ScopedCar): boolean {
  return (
    (!scope.car_ids || scope.car_ids.includes(car.car_id)) &&
    (!scope.brands || scope.brands.includes(car.brand_name)) &&
    (!scope.models || scope.models.includes(car.model_name)) &&
    (!scope.colors || scope.colors.includes(car.color_name))
  );
}
