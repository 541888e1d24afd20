import { z } from "zod";
import { CarwatchError, InputError } from "../core/errors.js";
import type { Rule } from "../domain/rule-spec.js";
import { ruleNameSchema } from "../domain/rule-spec.js";
import type { BacktestResult } from "../pipeline/rules/backtest.js";
import { formatRuleExpression, parseRuleExpression, type RuleExpressionSpec } from "../pipeline/rules/expression.js";
import type { RuleVersion } from "../state/rules.js";
import { tokenIdOf } from "./api-tokens.js";
import { durationSchema } from "./duration.js";
import { type Caller, defineTool, type ToolContext } from "./registry.js";

/** The grammar by example, for people and the agent alike (every kind, a scope, severity and clear time). */
const GRAMMAR =
  'One line: a condition, then optionally "where …", "severity low|medium|high", "clear after 2m". Conditions: ' +
  '"speed > 140" (speed|rpm|gear with >, >=, <, <=), "speed > 140 for 10s" (held that long), "wrong gear" / "wrong gear tolerance 1", ' +
  '"harsh braking > 25 km/h/s", "harsh acceleration > 15 km/h/s", "stuck rpm for 20 readings" (or stuck speed; while moving), ' +
  '"silent for 5m" (a moving car sends nothing), "baseline rpm z > 4" (learned per car and speed band). ' +
  'Scope: "where color = Red", "where brand in (Kia, Mazda) and model = Rio", "where car in (3, 7)". ' +
  'Example: "speed > 140 for 10s where color = Red severity high".';

/** A rule by name (or id), as list_rules shows it. */
const ruleRef = z.string().trim().min(1).max(40).describe("the rule's name (or id), as list_rules shows it");
const expression = z.string().trim().min(1).max(500).describe(GRAMMAR);

/** Who changed a rule, as the rule table keeps it: the entry point and its user (an API or MCP caller by its token id). */
export function changedBy(caller: Caller): string {
  const token = caller.via === "api" || caller.via === "mcp" ? tokenIdOf(caller.userId) : null;
  return `${caller.via}:${token ?? caller.userId}`;
}

export interface RuleView {
  id: string;
  name: string;
  /** The normal form: what create_rule and update_rule take. */
  expression: string;
  kind: Rule["condition"]["kind"];
  severity: Rule["severity"];
  enabled: boolean;
  version: number;
  updatedBy: string;
  updatedAt: number;
}

const ruleView = (r: Rule): RuleView => ({
  id: r.id,
  name: r.name,
  expression: formatRuleExpression(r),
  kind: r.condition.kind,
  severity: r.severity,
  enabled: r.enabled,
  version: r.version,
  updatedBy: r.updated_by,
  updatedAt: r.updated_at,
});

function findRule(ctx: ToolContext, ref: string): Rule {
  const r = ctx.rules.get(ref);
  if (!r) throw new InputError(`no rule ${ref} (list_rules shows them)`);
  return r;
}

// ---- backtests

const HOUR = 3_600_000;
const BACKTEST_MAX_MS = 7 * 24 * HOUR;
/** What a confirmation of a rule change backtests. */
const PREVIEW_MS = HOUR;

/** A rule as the backtest runs it: enabled, and for one not stored yet, a placeholder id (its incident ids are hypothetical). */
function trial(spec: RuleExpressionSpec, name: string, stored: Rule | undefined): Rule {
  return {
    ...spec,
    name,
    id: stored?.id ?? "backtest",
    enabled: true,
    version: (stored?.version ?? 0) + 1,
    updated_by: "backtest",
    updated_at: 0,
  };
}

async function backtest(ctx: ToolContext, rule: Rule, sinceMs: number): Promise<BacktestResult> {
  const toMs = ctx.clock();
  return ctx.lakehouse.backtest({ rules: [rule], fromMs: toMs - sinceMs, toMs, watermarkMs: ctx.watermarkMs ?? 10_000 });
}

const period = (ms: number) => (ms % (24 * HOUR) === 0 ? `${ms / (24 * HOUR)}d` : ms % HOUR === 0 ? `${ms / HOUR}h` : `${ms / 60_000}m`);
const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;

/** "last hour: 37 alerts, 12 incidents, 5 cars (36,000 readings)". */
export function backtestSummary(r: Pick<BacktestResult, "readings" | "alerts" | "incidents" | "carCount">, sinceMs: number): string {
  const when = sinceMs === HOUR ? "last hour" : `last ${period(sinceMs)}`;
  return `${when}: ${plural(r.alerts, "alert")}, ${plural(r.incidents, "incident")}, ${plural(r.carCount, "car")} (${plural(r.readings, "reading")})`;
}

/** A confirmation's backtest line; a store that cannot run it says so rather than hold the change back. */
async function previewLine(ctx: ToolContext, label: string, rule: Rule): Promise<string> {
  try {
    return `${label}, ${backtestSummary(await backtest(ctx, rule, PREVIEW_MS), PREVIEW_MS)}`;
  } catch (err) {
    if (err instanceof InputError || !(err instanceof CarwatchError)) throw err;
    return `${label}: not available (${err.message})`;
  }
}

// ---- tools

export const listRules = defineTool({
  name: "list_rules",
  description:
    "The alert rules (enabled or not): name, the rule as a one-line expression, kind, severity, enabled, version, who changed it last and when. Use before changing a rule.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => ctx.rules.list().map(ruleView),
});

export const describeRule = defineTool({
  name: "describe_rule",
  description:
    "One rule: its expression, every version (what changed, by whom, when) and its alerts, incidents and cars over the last hour and day (from telemetry.alerts).",
  input: z.object({ name: ruleRef }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const rule = findRule(ctx, input.name);
    const now = ctx.clock();
    const hour = new Date(now - HOUR);
    // Alerts from before rules were data have only the name (the first wave's rules keep it as their id).
    const [row] = await ctx.lakehouse.aggregate<Record<string, unknown>>(
      `SELECT count(*) AS day_alerts, count(DISTINCT incident_id) AS day_incidents, count(DISTINCT car_id) AS day_cars,
              sum(CASE WHEN event_time >= ? THEN 1 ELSE 0 END) AS hour_alerts,
              count(DISTINCT CASE WHEN event_time >= ? THEN incident_id END) AS hour_incidents,
              count(DISTINCT CASE WHEN event_time >= ? THEN car_id END) AS hour_cars
       FROM telemetry.alerts WHERE (rule_id = ? OR (rule_id IS NULL AND rule = ?)) AND event_time >= ?`,
      [hour, hour, hour, rule.id, rule.name, new Date(now - 24 * HOUR)],
    );
    const n = (k: string) => Number(row?.[k] ?? 0);
    return {
      rule: ruleView(rule),
      history: ctx.rules.history(rule.id).map((v: RuleVersion) => ({
        version: v.version,
        change: v.change,
        expression: formatRuleExpression(v),
        enabled: v.enabled,
        updatedBy: v.updated_by,
        updatedAt: v.updated_at,
      })),
      lastHour: { alerts: n("hour_alerts"), incidents: n("hour_incidents"), cars: n("hour_cars") },
      lastDay: { alerts: n("day_alerts"), incidents: n("day_incidents"), cars: n("day_cars") },
    };
  },
});

export const backtestRule = defineTool({
  name: "backtest_rule",
  description:
    "What a rule would have raised over the stored readings of the last period (default 1h, at most 7d): alerts, incidents, the cars with most alerts and a few sample alerts. " +
    "Give the name of an existing rule, or a name and an expression for a new or changed one (nothing is stored). " +
    "Run it before proposing create_rule or update_rule, and tell the user the numbers.",
  input: z.object({
    name: ruleRef,
    expression: expression.optional(),
    since: durationSchema.default(HOUR).refine((ms) => ms <= BACKTEST_MAX_MS, "a backtest reads every reading of the period: at most 7d"),
  }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const stored = ctx.rules.get(input.name);
    let rule: Rule;
    if (input.expression !== undefined) {
      const name = stored?.name ?? ruleNameSchema.safeParse(input.name).data;
      if (!name) throw new InputError("a rule name is lower case letters, digits and _, starting with a letter, at most 40 characters");
      rule = trial(parseRuleExpression(input.expression), name, stored);
    } else if (stored) rule = { ...stored, enabled: true };
    else throw new InputError(`no rule ${input.name}: give an expression to backtest a new one`);
    const r = await backtest(ctx, rule, input.since);
    return { rule: rule.name, expression: formatRuleExpression(rule), summary: backtestSummary(r, input.since), ...r };
  },
});

export const createRule = defineTool({
  name: "create_rule",
  description:
    'Creates an alert rule from a one-line expression; it is live within seconds in every process. For "tell me when a red car goes over 140 for 10 seconds": ' +
    '{"name": "red_over_140", "expression": "speed > 140 for 10s where color = Red"}. The confirmation shows its backtest over the last hour. ' +
    "Answers the rule with its expression in normal form.",
  input: z.object({ name: ruleNameSchema.describe("lower case letters, digits and _, e.g. red_over_140"), expression }),
  role: "admin",
  destructive: true,
  preview: async ({ input, ctx }) => {
    const spec = parseRuleExpression(input.expression);
    if (ctx.rules.get(input.name)) throw new InputError(`a rule named ${input.name} exists already (update_rule changes it)`);
    return previewLine(ctx, `New rule ${input.name}: ${formatRuleExpression(spec)}\nBacktest`, trial(spec, input.name, undefined));
  },
  run: ({ input, ctx, caller }) => ruleView(ctx.rules.create({ name: input.name, ...parseRuleExpression(input.expression) }, changedBy(caller), ctx.clock())),
});

export const updateRule = defineTool({
  name: "update_rule",
  description:
    "Replaces a rule's condition, scope, severity and clear time with a new expression (a new version; its name stays; live within seconds). " +
    "The confirmation shows the backtest of the new version beside the current one's.",
  input: z.object({ name: ruleRef, expression }),
  role: "admin",
  destructive: true,
  preview: async ({ input, ctx }) => {
    const spec = parseRuleExpression(input.expression);
    const cur = findRule(ctx, input.name);
    const [now, next] = await Promise.all([
      previewLine(ctx, `Now: ${formatRuleExpression(cur)}\nBacktest`, { ...cur, enabled: true }),
      previewLine(ctx, `New: ${formatRuleExpression(spec)}\nBacktest`, trial(spec, cur.name, cur)),
    ]);
    return `${cur.name}\n${now}\n${next}`;
  },
  run: ({ input, ctx, caller }) => ruleView(ctx.rules.update(input.name, parseRuleExpression(input.expression), changedBy(caller), ctx.clock())),
});

/** enable_rule, disable_rule, delete_rule: one rule by name, its confirmation showing what it raises. */
function ruleSwitch<const N extends string>(name: N, description: string, apply: (ctx: ToolContext, rule: Rule, by: string) => Rule) {
  return defineTool({
    name,
    description,
    input: z.object({ name: ruleRef }),
    role: "admin",
    destructive: true,
    preview: ({ input, ctx }) => {
      const rule = findRule(ctx, input.name);
      return previewLine(ctx, `${rule.name}: ${formatRuleExpression(rule)}\nBacktest`, { ...rule, enabled: true });
    },
    run: ({ input, ctx, caller }) => ruleView(apply(ctx, findRule(ctx, input.name), changedBy(caller))),
  });
}

export const enableRule = ruleSwitch("enable_rule", "Turns a rule on (live within seconds). The confirmation shows its backtest.", (ctx, r, by) =>
  ctx.rules.setEnabled(r.id, true, by, ctx.clock()),
);
export const disableRule = ruleSwitch(
  "disable_rule",
  "Turns a rule off without deleting it (live within seconds); enable_rule turns it back on. The confirmation shows what it raised over the last hour.",
  (ctx, r, by) => ctx.rules.setEnabled(r.id, false, by, ctx.clock()),
);
export const deleteRule = ruleSwitch(
  "delete_rule",
  "Deletes a rule (its versions stay in the history, for the alerts it raised). The confirmation shows what it raised over the last hour.",
  (ctx, r, by) => ctx.rules.delete(r.id, by, ctx.clock()),
);

export const RULE_TOOLS = [listRules, describeRule, backtestRule, createRule, updateRule, enableRule, disableRule, deleteRule] as const;
