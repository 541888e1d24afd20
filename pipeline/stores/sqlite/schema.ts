import type { TableSpec } from "../tables.js";
import { SQLITE_TYPES } from "./values.js";

export function createTableSql(t: TableSpec): string[] {
  const cols = t.columns.map((c) => `${c.name} ${SQLITE_TYPES[c.type]}${c.nullable ? "" : " NOT NULL"}`);
  const stmts = [`CREATE TABLE IF NOT EXISTS ${t.schema}.${t.name} (${cols.join(", ")}, PRIMARY KEY (${t.key.join(", ")}))`];
  // Facts are read and retained by time; event times arrive nearly in order, so this index is cheap to keep.
  if (t.timeColumn) {
    stmts.push(`CREATE INDEX IF NOT EXISTS ${t.schema}.${t.name}_${t.timeColumn} ON ${t.name} (${t.timeColumn})`);
  }
  return stmts;
}

export function insertSql(t: TableSpec): string {
  const verb = t.onConflict === "replace" ? "INSERT OR REPLACE" : "INSERT OR IGNORE";
  return `${verb} INTO ${t.schema}.${t.name} (${t.columns.map((c) => c.name).join(", ")}) VALUES (${t.columns.map(() => "?").join(", ")})`;
}
