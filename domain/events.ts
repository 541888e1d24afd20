import { z } from "zod";
import { RULE_KINDS, type RuleKind, SEVERITIES, type Severity } from "./rule-spec.js";

/** Limits beyond which a reading is physically implausible: dead-lettered, not alerted on. */
export const LIMITS = { speed: 400, rpm: 12000, gear: 8 } as const;

/**
 * Event times every schema accepts (epoch ms), the same on every topic, so a
 * reading the enrich stage takes is never refused further on. Intake also
 * bounds them to the server's clock (`EventTimeBounds` in parse.ts).
 */
export const EVENT_TIME_RANGE = { min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) } as const;
const eventTimeMs = z.number().int().min(EVENT_TIME_RANGE.min, "event_time before 2000-01-01").max(EVENT_TIME_RANGE.max, "event_time after 2100-01-01");

/**
 * A sensor reading as it arrives on `sensors-sample` (JSON). Parsed once, at
 * the enrich stage's boundary; everything downstream receives typed events.
 */
export const sensorEventSchema = z.object({
  event_id: z.uuid(),
  event_time: z.iso
    .datetime({ offset: true })
    .transform((s) => Date.parse(s))
    .pipe(eventTimeMs),
  car_id: z.number().int().positive(),
  speed: z.number().min(0).max(LIMITS.speed),
  rpm: z.number().int().min(0).max(LIMITS.rpm),
  gear: z.number().int().min(0).max(LIMITS.gear),
});

/** event_time is epoch milliseconds in memory, ISO-8601 on the wire. */
export type SensorEvent = z.output<typeof sensorEventSchema>;

export interface EnrichedEvent extends SensorEvent {
  driver_id: number;
  brand_name: string;
  model_name: string;
  color_name: string;
  expected_gear: number;
}

/** A rule's name, as the rule table has it (domain/rule-spec.ts): `speeding`, `high_rpm`, `wrong_gear` and whatever operators add. */
export type RuleName = string;

export interface ScoredEvent extends EnrichedEvent {
  is_alert: boolean;
  rules: RuleName[];
}

/** One rule firing on one event, tied to the incident it belongs to. */
export interface RuleHit {
  rule: RuleName;
  rule_id: string;
  rule_version: number;
  /** The rule's kind, for a notice that says what fired (absent on alerts re-sent from the table after a redelivery). */
  kind?: RuleKind;
  severity: Severity;
  value: number;
  threshold: number;
  incident_id: string;
  /** True when this hit opened the incident. */
  opened: boolean;
}

/**
 * Messages on `alert-data`: alerts, plus progress marks that move the windows'
 * watermark. A progress mark says: every reading of input partition `source`
 * (of `sources` partitions of samples-enriched) up to `maxEventTime` is in the
 * tables. Without them (the embedded bus) there is one source. `alertTimes`
 * are the event times of the batch's readings that alerted: all marks reach
 * the one aggregate member that closes windows, which counts late alerts
 * from them whichever process wrote the alerts.
 */
export type AlertMessage =
  | { kind: "alert"; event: ScoredEvent; hits: RuleHit[] }
  | { kind: "resolved"; incident: Incident }
  | { kind: "progress"; minEventTime: number; maxEventTime: number; source?: number; sources?: number; alertTimes?: number[] };

export const DEAD_LETTER_REASONS = [
  "malformed_json",
  "missing_field",
  "invalid_value",
  "out_of_range",
  "unknown_car",
  // An ingest token limited to some cars sent a reading of another.
  "car_not_allowed",
  // Outside the intake's bounds around the server's clock (EVENT_MAX_FUTURE_SECONDS, EVENT_MAX_AGE_DAYS).
  "event_time_future",
  "event_time_past",
  // The event_id of a reading already stored with other values (the first one is kept).
  "conflicting_duplicate",
  // Refused on the wire (Kafka) before a stage saw them: see DecodeError.
  "schema_version",
  "invalid_message",
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** Characters of a refused message that telemetry.dead_letters keeps: enough to see what was wrong, never a flood's full size. */
export const DEAD_LETTER_PAYLOAD_CHARS = 4096;

export function storedPayload(value: string): string {
  return value.length <= DEAD_LETTER_PAYLOAD_CHARS ? value : `${value.slice(0, DEAD_LETTER_PAYLOAD_CHARS)}… [${value.length} characters in all]`;
}

export interface DeadLetter {
  id: string;
  received_at: number;
  stage: string;
  reason: DeadLetterReason;
  detail: string;
  payload: string;
}

/**
 * Alerts of one car and rule, grouped: open from its first alert, resolved
 * once the rule's condition has been clear for the rule's clear_seconds of
 * event time (resolved_at = the last alert's time + clear_seconds, so a
 * replay resolves it at the same instant). Acknowledgement is a person's,
 * kept in the state store.
 */
export interface Incident {
  incident_id: string;
  car_id: number;
  rule: RuleName;
  rule_id: string;
  severity: Severity;
  started_at: number;
  ended_at: number;
  peak_value: number;
  event_count: number;
  color_name: string;
  model_name: string;
  resolved_at: number | null;
}

/** One closed 1-minute window, as written to telemetry.alert_windows and sent to digests. */
export interface AlertWindow {
  window_start: number;
  window_end: number;
  events: number;
  alert_events: number;
  new_incidents: number;
  late_events: number;
  distinct_cars: number;
  max_speed: number | null;
  max_gear: number | null;
  max_rpm: number | null;
  rule_counts: Record<string, number>;
  color_counts: Record<string, number>;
  top_cars: { car_id: number; alerts: number }[];
}

/** Wire form of a sensor event. */
export function sensorEventJson(e: SensorEvent): string {
  return JSON.stringify({ ...e, event_time: new Date(e.event_time).toISOString() });
}

// Wire schemas: what a consumer accepts from a topic (Kafka decodes and validates at the boundary;
// a message that fails goes to the dead-letter topic). Kept in step with the types above by `satisfies`.
const epochMs = z.number().int().nonnegative();
const count = z.number().int().nonnegative();

export const enrichedEventSchema = z.object({
  event_id: z.string().min(1),
  event_time: eventTimeMs,
  car_id: z.number().int().positive(),
  speed: z.number().min(0).max(LIMITS.speed),
  rpm: z.number().int().min(0).max(LIMITS.rpm),
  gear: z.number().int().min(0).max(LIMITS.gear),
  driver_id: z.number().int(),
  brand_name: z.string(),
  model_name: z.string(),
  color_name: z.string(),
  expected_gear: z.number().int(),
}) satisfies z.ZodType<EnrichedEvent>;

const ruleName = z.string().min(1);
const severity = z.enum(SEVERITIES);
const incidentSchema = z.object({
  incident_id: z.string().min(1),
  car_id: z.number().int().positive(),
  rule: ruleName,
  rule_id: z.string().min(1),
  severity,
  started_at: eventTimeMs,
  ended_at: eventTimeMs,
  peak_value: z.number(),
  event_count: count,
  color_name: z.string(),
  model_name: z.string(),
  resolved_at: eventTimeMs.nullable(),
}) satisfies z.ZodType<Incident>;
export const alertMessageSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("alert"),
    event: enrichedEventSchema.extend({ is_alert: z.boolean(), rules: z.array(ruleName) }),
    hits: z.array(
      z.object({
        rule: ruleName,
        rule_id: z.string().min(1),
        rule_version: z.number().int().positive(),
        kind: z.enum(RULE_KINDS as [RuleKind, ...RuleKind[]]).optional(),
        severity,
        value: z.number(),
        threshold: z.number(),
        incident_id: z.string(),
        opened: z.boolean(),
      }),
    ),
  }),
  z.object({ kind: z.literal("resolved"), incident: incidentSchema }),
  z.object({
    kind: z.literal("progress"),
    minEventTime: epochMs,
    maxEventTime: epochMs,
    source: z.number().int().nonnegative().optional(),
    sources: z.number().int().positive().optional(),
    alertTimes: z.array(epochMs).optional(),
  }),
]) satisfies z.ZodType<AlertMessage>;

export const alertWindowSchema = z.object({
  window_start: epochMs,
  window_end: epochMs,
  events: count,
  alert_events: count,
  new_incidents: count,
  late_events: count,
  distinct_cars: count,
  max_speed: z.number().nullable(),
  max_gear: z.number().nullable(),
  max_rpm: z.number().nullable(),
  rule_counts: z.record(z.string(), count),
  color_counts: z.record(z.string(), count),
  top_cars: z.array(z.object({ car_id: z.number().int(), alerts: count })),
}) satisfies z.ZodType<AlertWindow>;
