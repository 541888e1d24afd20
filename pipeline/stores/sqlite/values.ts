import type { ColumnType, TableSpec } from "../../../domain/tables.js";

/** The formatted seconds last used, a few: rows mix event times with wall-clock times (received_at). */
const seconds = new Map<number, string>();

/**
 * SQLite's own text form of a UTC time ('YYYY-MM-DD HH:MM:SS.SSS'), so
 * `datetime('now', '-1 hour')` compares correctly with stored values.
 * Readings arrive many per second: the formatted second is reused.
 */
export function toSqliteTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  let prefix = seconds.get(second);
  if (prefix === undefined) {
    if (seconds.size >= 8) seconds.clear();
    prefix = new Date(second * 1000).toISOString().replace("T", " ").slice(0, 20);
    seconds.set(second, prefix);
  }
  const frac = Math.floor(ms - second * 1000);
  return prefix + (frac < 10 ? "00" : frac < 100 ? "0" : "") + frac;
}

export function fromSqliteTime(text: string): number {
  return Date.parse(`${text.replace(" ", "T")}Z`);
}

export const SQLITE_TYPES: Record<ColumnType, string> = {
  int: "INTEGER",
  bigint: "INTEGER",
  double: "REAL",
  string: "TEXT",
  bool: "INTEGER",
  timestamp: "TEXT",
  json: "TEXT",
};

function converter(type: ColumnType): (v: unknown) => unknown {
  switch (type) {
    case "timestamp":
      return (v) => (v == null ? null : toSqliteTime(v as number));
    case "bool":
      return (v) => (v == null ? null : v ? 1 : 0);
    case "json":
      return (v) => (v == null ? null : JSON.stringify(v));
    default:
      return (v) => (v === undefined ? null : v);
  }
}

/** A function turning a row object into the positional values of the table's INSERT. */
export function rowEncoder(spec: TableSpec): (row: object) => unknown[] {
  const names = spec.columns.map((c) => c.name);
  const convs = spec.columns.map((c) => converter(c.type));
  const n = names.length;
  return (row) => {
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = convs[i]!((row as Record<string, unknown>)[names[i]!]);
    return out;
  };
}
