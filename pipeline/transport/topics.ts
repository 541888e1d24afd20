import type { AlertMessage, AlertWindow, EnrichedEvent } from "../model/events.js";
import type { Topic } from "./transport.js";

/** Bumped when a message's shape changes incompatibly; consumers refuse other versions. */
export const SCHEMA_VERSION = 1;

function jsonTopic<T>(name: string): Topic<T> {
  return {
    name,
    encode: (value) => JSON.stringify({ v: SCHEMA_VERSION, data: value }),
    decode: (raw) => {
      const parsed = JSON.parse(raw) as { v?: unknown; data?: unknown };
      if (parsed?.v !== SCHEMA_VERSION) throw new Error(`schema version ${String(parsed?.v)} is not ${SCHEMA_VERSION}`);
      return parsed.data as T;
    },
  };
}

/** Raw readings as the cars send them: strings, parsed by the enrich stage. */
export const SENSORS: Topic<string> = { name: "sensors-sample", encode: (s) => s, decode: (s) => s };
export const ENRICHED = jsonTopic<EnrichedEvent>("samples-enriched");
export const ALERTS = jsonTopic<AlertMessage>("alert-data");
export const WINDOWS = jsonTopic<AlertWindow>("alert-windows");
