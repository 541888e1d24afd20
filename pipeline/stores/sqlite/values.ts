import type { ColumnType, TableSpec } from "../tables.js";

/** SQLite's own text form of a UTC time, so `datetime('now', '-1 hour')` compares correctly with stored values. */
export function toSqliteTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 23);
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
  const cols = spec.columns.map((c) => ({ name: c.name, conv: converter(c.type) }));
  return (row) => cols.map((c) => c.conv((row as Record<string, unknown>)[c.name]));
}
