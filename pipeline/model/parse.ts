import { type DeadLetterReason, type SensorEvent, sensorEventSchema } from "./events.js";

export type ParseResult = { ok: true; event: SensorEvent } | { ok: false; reason: DeadLetterReason; detail: string };

/** Parses one message from sensors-sample, classifying what is wrong with a bad one. */
export function parseSensorMessage(raw: string): ParseResult {
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
  if (result.success) return { ok: true, event: result.data };
  const issue = result.error.issues[0]!;
  const field = issue.path.join(".") || "message";
  const missing = issue.code === "invalid_type" && (json as Record<string, unknown>)[String(issue.path[0])] === undefined;
  if (missing) return { ok: false, reason: "missing_field", detail: `${field} is missing` };
  if (issue.code === "too_big" || issue.code === "too_small") return { ok: false, reason: "out_of_range", detail: `${field}: ${issue.message}` };
  return { ok: false, reason: "invalid_value", detail: `${field}: ${issue.message}` };
}
