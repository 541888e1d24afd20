import type { ColumnType, TableSpec } from "../tables.js";

/** A timestamp literal in UTC with millisecond precision, as Trino reads it. */
export function timestampLiteral(ms: number): string {
  return `TIMESTAMP '${new Date(ms).toISOString().replace("T", " ").slice(0, 23)} UTC'`;
}

export function stringLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function doubleLiteral(n: number): string {
  if (Number.isNaN(n)) return "nan()";
  if (n === Number.POSITIVE_INFINITY) return "infinity()";
  if (n === Number.NEGATIVE_INFINITY) return "-infinity()";
  return `DOUBLE '${n}'`;
}

/** One value as a Trino SQL literal of the column's type. */
export function literal(type: ColumnType, v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  switch (type) {
    case "timestamp":
      return timestampLiteral(v as number);
    case "bool":
      return v ? "TRUE" : "FALSE";
    case "int":
      return `INTEGER '${Math.trunc(Number(v))}'`;
    case "bigint":
      return `BIGINT '${Math.trunc(Number(v))}'`;
    case "double":
      return doubleLiteral(Number(v));
    case "json":
      return stringLiteral(JSON.stringify(v));
    case "string":
      return stringLiteral(String(v));
  }
}

export function rowLiteral(spec: TableSpec, row: object): string {
  const r = row as Record<string, unknown>;
  return `(${spec.columns.map((c) => literal(c.type, r[c.name])).join(", ")})`;
}

/** A parameter of carwatch's own SQL as a literal: Dates become timestamps. */
function paramLiteral(v: unknown): string {
  if (v instanceof Date) return timestampLiteral(v.getTime());
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : doubleLiteral(v);
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  if (v === null || v === undefined) return "NULL";
  return stringLiteral(String(v));
}

/**
 * Inlines `?` parameters (trino-client has no binding). Only for carwatch's
 * own SQL, whose text has no `?` inside quotes; users' SQL never comes here.
 */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  let i = 0;
  const out = sql.replace(/\?/g, () => {
    if (i >= params.length) throw new Error(`too few parameters for: ${sql}`);
    return paramLiteral(params[i++]);
  });
  if (i !== params.length) throw new Error(`${params.length} parameters for ${i} placeholders in: ${sql}`);
  return out;
}

/** Trino's text for a timestamp with time zone ("2026-11-28 12:00:00.123456 UTC") in epoch ms. */
export function parseTimestamp(text: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? (UTC|Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return Date.parse(text);
  const zone = m[4] === "UTC" ? "Z" : m[4];
  return Date.parse(`${m[1]}T${m[2]}${(m[3] ?? "").slice(0, 4)}${zone}`);
}
