import type { z } from "zod";
import { type AlertMessage, type AlertWindow, alertMessageSchema, alertWindowSchema, type EnrichedEvent, enrichedEventSchema } from "../../domain/events.js";
import type { Topic } from "./transport.js";

/** Bumped when a message's shape changes incompatibly; consumers refuse other versions. */
export const SCHEMA_VERSION = 1;

/** Why a consumer refused a message from the wire (the reason a dead letter carries). */
export class DecodeError extends Error {
  constructor(
    readonly reason: "malformed_json" | "schema_version" | "invalid_message",
    detail: string,
  ) {
    super(detail);
    this.name = "DecodeError";
  }
}

function jsonTopic<T>(name: string, schema?: z.ZodType<T>): Topic<T> {
  return {
    name,
    encode: (value) => JSON.stringify({ v: SCHEMA_VERSION, data: value }),
    decode: (raw) => {
      let parsed: { v?: unknown; data?: unknown };
      try {
        parsed = JSON.parse(raw) as { v?: unknown; data?: unknown };
      } catch (err) {
        throw new DecodeError("malformed_json", (err as Error).message);
      }
      if (parsed?.v !== SCHEMA_VERSION) throw new DecodeError("schema_version", `schema version ${String(parsed?.v)} is not ${SCHEMA_VERSION}`);
      if (!schema) return parsed.data as T;
      const result = schema.safeParse(parsed.data);
      if (!result.success) {
        const issue = result.error.issues[0]!;
        throw new DecodeError("invalid_message", `${issue.path.join(".") || "message"}: ${issue.message}`);
      }
      return result.data;
    },
  };
}

/** A message a consumer could not decode, as sent to the dead-letter topic. */
export interface DeadLetterMessage {
  /** Where it was read: full topic name (with prefix), partition, offset. */
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** The consumer group that refused it. */
  group: string;
  reason: string;
  detail: string;
  /** The message value as received (UTF-8). */
  payload: string;
  received_at: number;
}

/** Raw readings as the cars send them: strings, parsed by the enrich stage. */
export const SENSORS: Topic<string> = { name: "sensors-sample", encode: (s) => s, decode: (s) => s };
export const ENRICHED = jsonTopic<EnrichedEvent>("samples-enriched", enrichedEventSchema);
export const ALERTS = jsonTopic<AlertMessage>("alert-data", alertMessageSchema);
export const WINDOWS = jsonTopic<AlertWindow>("alert-windows", alertWindowSchema);
/** Messages a consumer refused (Kafka transport): bad JSON, another schema version, failed validation. */
export const DEAD_LETTERS = jsonTopic<DeadLetterMessage>("dead-letters");

/** Every topic carwatch creates at start (Kafka). */
export const ALL_TOPICS: readonly Topic<unknown>[] = [SENSORS, ENRICHED, ALERTS, WINDOWS, DEAD_LETTERS] as Topic<unknown>[];
