import type { TableSpec } from "../../../domain/tables.js";
import { SQLITE_TYPES } from "./values.js";

export function createTableSql(t: TableSpec): string[] {
  const cols = t.columns.map((c) => `${c.name} ${SQLITE_TYPES[c.type]}${c.nullable ? "" : " NOT NULL"}`);
  const stmts = [`CREATE TABLE IF NOT EXISTS ${t.schema}.${t.name} (${cols.join(", ")}, PRIMARY KEY (${t.key.join(", ")}))`];
  // Facts are read and retained by time; event times arrive nearly in order, so this index is cheap to keep.
  // A key that starts with the time column is that index already.
  for (const index of secondaryIndexes(t)) stmts.push(`CREATE INDEX IF NOT EXISTS ${t.schema}.${index} ON ${t.name} (${t.timeColumn})`);
  return stmts;
}

/** The indexes createTableSql makes besides the primary key's, by name (unqualified). */
export const secondaryIndexes = (t: TableSpec): string[] => (t.timeColumn && t.key[0] !== t.timeColumn ? [`${t.name}_${t.timeColumn}`] : []);

/**
 * An upsert on the table's key. Never INSERT OR IGNORE: it would also swallow a NOT NULL
 * violation, silently losing a bad row instead of failing the batch.
 */
export function insertSql(t: TableSpec): string {
  const cols = t.columns.map((c) => c.name);
  const rest = cols.filter((c) => !t.key.includes(c));
  const onConflict = t.onConflict === "replace" && rest.length > 0 ? `DO UPDATE SET ${rest.map((c) => `${c} = excluded.${c}`).join(", ")}` : "DO NOTHING";
  return `INSERT INTO ${t.schema}.${t.name} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ON CONFLICT (${t.key.join(", ")}) ${onConflict}`;
}
