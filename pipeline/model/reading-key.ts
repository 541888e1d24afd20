/**
 * A reading is identified by its event_id at its event_time, the key of
 * cars_raw, cars_enriched and (with the rule) alerts: a resend carries both
 * unchanged. (A unique index on event_id alone was measured at 37–68 µs per
 * reading, growing with the table, for random uuids: docs/architecture.md.)
 */
export interface ReadingRef {
  event_id: string;
  /** Epoch ms. */
  event_time: number;
}

export const readingKey = (r: ReadingRef) => `${r.event_time}/${r.event_id}`;

/**
 * A WHERE clause that finds these readings on the tables' key (times, then
 * ids; either engine), with its parameters. It may also match another id's
 * time: callers compare keys.
 */
export function readingsWhere(readings: readonly ReadingRef[]): { where: string; params: unknown[] } {
  const times = [...new Set(readings.map((r) => r.event_time))];
  return {
    where: `event_time IN (${times.map(() => "?").join(",")}) AND event_id IN (${readings.map(() => "?").join(",")})`,
    params: [...times.map((t) => new Date(t)), ...readings.map((r) => r.event_id)],
  };
}
