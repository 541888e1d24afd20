import { CarwatchError } from "../core/errors.js";
import type { Lakehouse } from "../pipeline/stores/lakehouse.js";

/**
 * The one place where the charts' SQL differs between the engines: a
 * timestamp column floored to the start of its bucket, in epoch ms (buckets
 * count from the epoch, so an hour starts on the hour, a day at 00:00 UTC).
 * `column` is one of carwatch's fixed column names; the bucket, a whole
 * number of seconds chosen by code, is written as a literal because SQLite
 * binds a JavaScript number as REAL, which would make the division inexact.
 */
export function timeBucketSql(dialect: Lakehouse["dialect"], column: string, bucketMs: number): string {
  const seconds = bucketMs / 1000;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new CarwatchError("tool", `a time bucket must be whole seconds, not ${bucketMs} ms`);
  return dialect === "sqlite"
    ? `(unixepoch(${column}) / ${seconds}) * ${bucketMs}`
    : `CAST(floor(to_unixtime(${column}) / ${seconds}) AS bigint) * ${bucketMs}`;
}
