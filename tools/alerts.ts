import { z } from "zod";
import { InputError } from "../core/errors.js";
import { incidentIdSchema } from "../domain/incident-id.js";
import { ruleNameSchema, type Severity } from "../domain/rule-spec.js";
import type { Silence } from "../state/ops-state.js";
import { durationSchema } from "./duration.js";
import { defineTool, type ToolContext } from "./registry.js";
import { severity } from "./severity.js";

/** Grouping keys map to fixed column names: user input never reaches the SQL text. */
const GROUP_COLUMNS = { rule: "rule", color: "color_name", model: "model_name" } as const;

export const alertSummary = defineTool({
  name: "alert_summary",
  description:
    'Alerts over the last period ("15m", "1h", "24h", "7d"; default 1h) grouped by rule, color or model, optionally of one rule only: alerts, incidents, distinct cars, peak value. Use for "how many alerts".',
  input: z.object({
    since: durationSchema.default(3_600_000),
    by: z.enum(["rule", "color", "model"]).default("rule"),
    rule: ruleNameSchema.optional().describe('only this rule\'s alerts, e.g. "speeding"'),
  }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const from = ctx.clock() - input.since;
    const col = GROUP_COLUMNS[input.by];
    const rows = await ctx.lakehouse.select<{ k: string; alerts: number; incidents: number; cars: number; peak: number }>(
      `SELECT ${col} AS k, count(*) AS alerts, count(DISTINCT incident_id) AS incidents, count(DISTINCT car_id) AS cars, max(value) AS peak
       FROM telemetry.alerts WHERE event_time >= ?${input.rule ? " AND rule = ?" : ""} GROUP BY ${col} ORDER BY alerts DESC, k`,
      input.rule ? [new Date(from), input.rule] : [new Date(from)],
    );
    const groups = rows.map((r) => ({
      key: String(r.k),
      alerts: Number(r.alerts),
      incidents: Number(r.incidents),
      cars: Number(r.cars),
      peak: Number(r.peak),
    }));
    return { from, by: input.by, ...(input.rule ? { rule: input.rule } : {}), total: groups.reduce((a, g) => a + g.alerts, 0), groups };
  },
});

export const topCars = defineTool({
  name: "top_cars",
  description: 'The cars with the most alerts over the last period (default 1h), with incidents, model, color, max speed and rpm. Use for "who drives worst".',
  input: z.object({ since: durationSchema.default(3_600_000), limit: z.coerce.number().int().min(1).max(50).default(10) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const from = ctx.clock() - input.since;
    // A dashboard panel every few seconds, over every alert of the period: in the query process, off the pipeline's thread.
    const rows = await ctx.lakehouse.aggregate<Record<string, unknown>>(
      `SELECT car_id, max(model_name) AS model, max(color_name) AS color, count(*) AS alerts, count(DISTINCT incident_id) AS incidents,
              max(speed) AS max_speed, max(rpm) AS max_rpm
       FROM telemetry.alerts WHERE event_time >= ? GROUP BY car_id ORDER BY alerts DESC, car_id LIMIT ?`,
      [new Date(from), input.limit],
    );
    return {
      from,
      cars: rows.map((r) => ({
        carId: Number(r.car_id),
        model: String(r.model),
        color: String(r.color),
        alerts: Number(r.alerts),
        incidents: Number(r.incidents),
        maxSpeed: Number(r.max_speed),
        maxRpm: Number(r.max_rpm),
      })),
    };
  },
});

const ruleOf = (ctx: ToolContext, r: Record<string, unknown>) => ctx.rules.get(String(r.rule_id ?? r.rule));

export interface IncidentView {
  incidentId: string;
  carId: number;
  rule: string;
  startedAt: number;
  endedAt: number;
  peak: number;
  events: number;
  color: string;
  model: string;
  severity: Severity;
  /** When it resolved (event time: its condition had been clear for the rule's clear time); null while open. */
  resolvedAt: number | null;
  ackedBy: number | null;
  silenced: boolean;
}

export const latestIncidents = defineTool({
  name: "latest_incidents",
  description:
    "The newest incidents (grouped consecutive alerts of one car and rule), optionally for one rule or car, with severity, acknowledgement and silence.",
  input: z.object({
    limit: z.coerce.number().int().min(1).max(50).default(10),
    rule: ruleNameSchema.optional().describe("a rule's name (list_rules)"),
    carId: z.coerce.number().int().positive().optional(),
  }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }): Promise<IncidentView[]> => {
    const where: string[] = [];
    const params: unknown[] = [];
    if (input.rule) {
      where.push("rule = ?");
      params.push(input.rule);
    }
    if (input.carId) {
      where.push("car_id = ?");
      params.push(input.carId);
    }
    const rows = await ctx.lakehouse.select<Record<string, unknown>>(
      `SELECT * FROM telemetry.incidents ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at DESC, incident_id LIMIT ?`,
      [...params, input.limit],
    );
    const acks = ctx.ops.acks(rows.map((r) => String(r.incident_id)));
    const now = ctx.clock();
    return rows.map((r) => {
      const rule = String(r.rule);
      const peak = Number(r.peak_value);
      const id = String(r.incident_id);
      return {
        incidentId: id,
        carId: Number(r.car_id),
        rule,
        startedAt: ctx.lakehouse.toMillis(r.started_at),
        endedAt: ctx.lakehouse.toMillis(r.ended_at),
        peak,
        events: Number(r.event_count),
        color: String(r.color_name),
        model: String(r.model_name),
        // Incidents from before rules were data have no severity of their own: their rule's.
        severity: severity((r.severity as Severity | null) ?? ruleOf(ctx, r)?.severity ?? "medium", ruleOf(ctx, r), peak),
        resolvedAt: r.resolved_at == null ? null : ctx.lakehouse.toMillis(r.resolved_at),
        ackedBy: acks.get(id)?.userId ?? null,
        silenced: ctx.ops.isSilenced(Number(r.car_id), rule, now),
      };
    });
  },
});

const incidentId = z.string().trim().pipe(incidentIdSchema);

async function findIncident(ctx: ToolContext, id: string) {
  const [row] = await ctx.lakehouse.select<{ car_id: number; rule: string }>("SELECT car_id, rule FROM telemetry.incidents WHERE incident_id = ?", [id]);
  if (!row) throw new InputError(`no incident ${id}`);
  return { carId: Number(row.car_id), rule: String(row.rule) };
}

export const ackIncident = defineTool({
  name: "ack_incident",
  description: "Acknowledges an incident (someone is on it). Says when it was already acknowledged.",
  input: z.object({ incidentId }),
  role: "operator",
  destructive: false,
  run: async ({ input, ctx, caller }) => {
    const incident = await findIncident(ctx, input.incidentId);
    const fresh = ctx.ops.ack(input.incidentId, caller.userId, ctx.clock());
    const ack = ctx.ops.acks([input.incidentId]).get(input.incidentId)!;
    return { incidentId: input.incidentId, ...incident, alreadyAcked: !fresh, ackedBy: ack.userId, at: ack.at };
  },
});

const silenceTarget = z.union([
  z.object({ incidentId, for: durationSchema.default(3_600_000) }),
  z.object({ target: z.literal("car"), value: z.coerce.number().int().positive(), for: durationSchema.default(3_600_000) }),
  z.object({ target: z.literal("rule"), value: ruleNameSchema, for: durationSchema.default(3_600_000) }),
]);

export const silence = defineTool({
  name: "silence",
  description:
    'Silences new-incident notifications (alerts are still recorded) for a car (target "car", value its id) or a rule (target "rule", value its name), for a period.',
  // One object on the input side (function calling wants a JSON object schema), then one of the three ways to name what is silenced.
  input: z
    .object({
      target: z.enum(["car", "rule"]).optional(),
      value: z.union([z.string(), z.number()]).optional().describe("a car id, or a rule name"),
      incidentId: z.string().optional().describe("instead of target and value: silence this incident's car"),
      for: z.string().optional().describe('a period like "30m" or "2h"; default 1h'),
    })
    .transform((given, ctx) => {
      const parsed = silenceTarget.safeParse(given);
      if (parsed.success) return parsed.data;
      const issue = parsed.error.issues[0]!;
      const message = issue.code === "invalid_union" ? 'give target "car" and a car id as value, target "rule" and a rule name, or incidentId' : issue.message;
      ctx.addIssue({ code: "custom", message, path: issue.path });
      return z.NEVER;
    }),
  role: "operator",
  destructive: false,
  run: async ({ input, ctx, caller }): Promise<Silence> => {
    const now = ctx.clock();
    if ("incidentId" in input) {
      const incident = await findIncident(ctx, input.incidentId);
      return ctx.ops.silence("car", String(incident.carId), now + input.for, caller.userId, now);
    }
    return ctx.ops.silence(input.target, String(input.value), now + input.for, caller.userId, now);
  },
});

export const listSilences = defineTool({
  name: "list_silences",
  description: "The silences in force: what is silenced, until when, by whom.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => ctx.ops.activeSilences(ctx.clock()),
});

export const ALERT_TOOLS = [alertSummary, topCars, latestIncidents, ackIncident, silence, listSilences] as const;
