import { type DeadLetterReason, type SensorEvent, sensorEventSchema } from "../../domain/events.js";

export type ParseResult = { ok: true; event: SensorEvent } | { ok: false; reason: DeadLetterReason; detail: string };

/** How far an event time may stray from the server's clock at intake. */
export interface EventTimeBounds {
  maxFutureMs: number;
  maxAgeMs: number;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * Parses one reading, classifying what is wrong with a bad one. With
 * `bounds`, a reading dated too far ahead of `now` (a wrong clock: it would
 * drag the windows' watermark along) or older than the horizon is refused
 * too; without them (replaying readings already accepted) only the schema
 * applies.
 */
export function parseSensorMessage(raw: string, bounds?: EventTimeBounds, now = Date.now()): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: "malformed_json", detail: (err as Error).message };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, reason: "malformed_json", detail: "not a JSON object" };
  }
  const result = sensorEventSchema.safeParse(json);
  if (result.success) {
    const t = result.data.event_time;
    if (bounds && t > now + bounds.maxFutureMs) {
      return {
        ok: false,
        reason: "event_time_future",
        detail: `event_time ${iso(t)} is ${Math.round((t - now) / 1000)} s ahead of the server's clock (at most ${bounds.maxFutureMs / 1000} s)`,
      };
    }
    if (bounds && t < now - bounds.maxAgeMs) {
      return { ok: false, reason: "event_time_past", detail: `event_time ${iso(t)} is older than ${bounds.maxAgeMs / 86_400_000} days` };
    }
    return { ok: true, event: result.data };
  }
  const issue = result.error.issues[0]!;
  const field = issue.path.join(".") || "message";
  const missing = issue.code === "invalid_type" && (json as Record<string, unknown>)[String(issue.path[0])] === undefined;
  if (missing) return { ok: false, reason: "missing_field", detail: `${field} is missing` };
  if (issue.code === "too_big" || issue.code === "too_small") return { ok: false, reason: "out_of_range", detail: `${field}: ${issue.message}` };
  return { ok: false, reason: "invalid_value", detail: `${field}: ${issue.message}` };
}
