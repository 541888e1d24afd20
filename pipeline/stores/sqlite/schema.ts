import type { TableSpec } from "../tables.js";
import { SQLITE_TYPES } from "./values.js";

export function createTableSql(t: TableSpec): string[] {
  const cols = t.columns.map((c) => `${c.name} ${SQLITE_TYPES[c.type]}${c.nullable ? "" : " NOT NULL"}`);
  const stmts = [`CREATE TABLE IF NOT EXISTS ${t.schema}.${t.name} (${cols.join(", ")}, PRIMARY KEY (${t.key.join(", ")}))`];
  // Facts are read and retained by time; event times arrive nearly in order, so this index is cheap to keep.
  // A key that starts with the time column is that index already.
  if (t.timeColumn && t.key[0] !== t.timeColumn) {
    stmts.push(`CREATE INDEX IF NOT EXISTS ${t.schema}.${t.name}_${t.timeColumn} ON ${t.name} (${t.timeColumn})`);
  }
  if (t.unique) stmts.push(`CREATE UNIQUE INDEX IF NOT EXISTS ${uniqueIndex(t)} ON ${t.name} (${t.unique})`);
  return stmts;
}

/** The index that keeps `unique` unique, schema-qualified. */
export const uniqueIndex = (t: TableSpec) => `${t.schema}.${t.name}_${t.unique}_unique`;

/**
 * An upsert on the table's key (and, for an insert-once table with a unique
 * column, on that too: DO NOTHING without a target covers every uniqueness
 * constraint). Never INSERT OR IGNORE: it would also swallow a NOT NULL
 * violation, silently losing a bad row instead of failing the batch.
 */
export function insertSql(t: TableSpec): string {
  const cols = t.columns.map((c) => c.name);
  const rest = cols.filter((c) => !t.key.includes(c));
  const onConflict =
    t.onConflict === "replace" && rest.length > 0 ? `DO UPDATE SET ${rest.map((c) => `${c} = excluded.${c}`).join(", ")}` : "DO NOTHING";
  const target = t.unique && t.onConflict === "ignore" ? "" : ` (${t.key.join(", ")})`;
  return `INSERT INTO ${t.schema}.${t.name} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ON CONFLICT${target} ${onConflict}`;
}
