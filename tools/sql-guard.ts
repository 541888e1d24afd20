import nodeSqlParser from "node-sql-parser";
import { InputError } from "../core/errors.js";
import { findTable, qualifiedName, TABLE_LIST } from "../pipeline/stores/tables.js";

const parser = new nodeSqlParser.Parser();

/** What the query tool will run: SQL for the read-only connection, or a catalog answer. */
export type GuardedSql =
  | { kind: "sql"; sql: string }
  | { kind: "show_tables"; schema: string | null }
  | { kind: "show_schemas" }
  | { kind: "describe"; table: string };

// SQLite has no SHOW/DESCRIBE and the parser's SQLite grammar knows no EXPLAIN: these exact shapes are recognised here.
const SHOW_TABLES = /^\s*show\s+tables(?:\s+(?:from|in)\s+([a-z_]+))?\s*;?\s*$/i;
const SHOW_SCHEMAS = /^\s*show\s+(?:schemas|databases)\s*;?\s*$/i;
const DESCRIBE = /^\s*(?:describe|desc)\s+([a-z_]+(?:\.[a-z_]+)?)\s*;?\s*$/i;
const EXPLAIN = {
  sqlite: /^\s*explain(?:\s+query\s+plan)?\s+/i,
  // EXPLAIN ANALYZE runs its statement: allowed only because the body must be a SELECT.
  trino: /^\s*explain(?:\s+analyze)?(?:\s+verbose)?\s+/i,
} as const;
export type Dialect = keyof typeof EXPLAIN;

const refuse = (why: string) => new InputError(`refused: ${why}. Only one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement is allowed.`);

/**
 * Decides whether a user's SQL may run, with a real parser in the store's dialect:
 * exactly one statement, a SELECT (WITH included), and only catalog tables
 * or the query's own CTEs. Comments cannot hide a second statement because
 * the parser, not a prefix check, counts statements.
 */
export function guardSql(sql: string, dialect: Dialect = "sqlite"): GuardedSql {
  if (sql.trim() === "") throw new InputError("the query is empty");
  if (sql.length > 10_000) throw new InputError("the query is longer than 10000 characters");
  const show = SHOW_TABLES.exec(sql);
  if (show) {
    const schema = show[1]?.toLowerCase() ?? null;
    if (schema && !TABLE_LIST.some((t) => t.schema === schema)) throw new InputError(`unknown schema "${schema}"`);
    return { kind: "show_tables", schema };
  }
  if (SHOW_SCHEMAS.test(sql)) return { kind: "show_schemas" };
  const desc = DESCRIBE.exec(sql);
  if (desc) {
    const t = findTable(desc[1]!);
    if (!t) throw new InputError(`unknown table "${desc[1]}"`);
    return { kind: "describe", table: qualifiedName(t) };
  }
  const explain = EXPLAIN[dialect].exec(sql);
  const body = explain ? sql.slice(explain[0].length) : sql;
  checkSelect(body, dialect);
  if (!explain) return { kind: "sql", sql: body };
  return { kind: "sql", sql: dialect === "sqlite" ? `EXPLAIN QUERY PLAN ${body}` : `${explain[0].trim()} ${body}` };
}

function checkSelect(sql: string, database: Dialect): void {
  let ast: unknown;
  try {
    ast = parser.astify(sql, { database });
  } catch (err) {
    throw new InputError(`refused: the SQL does not parse (${firstLine((err as Error).message)})`);
  }
  const statements = (Array.isArray(ast) ? ast : [ast]) as { type?: string }[];
  if (statements.length !== 1) throw refuse(`${statements.length} statements`);
  const type = String(statements[0]!.type ?? "unknown").toUpperCase();
  if (type !== "SELECT") throw refuse(`${type} statement`);
  const ctes = new Set<string>();
  collectCtes(statements[0], ctes);
  let tables: string[];
  try {
    tables = parser.tableList(sql, { database });
  } catch (err) {
    throw new InputError(`refused: the SQL does not parse (${firstLine((err as Error).message)})`);
  }
  for (const entry of tables) {
    const [op, schema, name] = entry.split("::") as [string, string, string];
    if (op.toLowerCase() !== "select") throw refuse(`${op.toUpperCase()} on ${name}`);
    if (schema === "null" && ctes.has(name.toLowerCase())) continue;
    const t = findTable(schema === "null" ? name : `${schema}.${name}`);
    if (!t) throw new InputError(`unknown table "${schema === "null" ? name : `${schema}.${name}`}"; tables: ${TABLE_LIST.map(qualifiedName).join(", ")}`);
  }
}

function collectCtes(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) collectCtes(n, out);
    return;
  }
  if (!node || typeof node !== "object") return;
  const withList = (node as { with?: unknown }).with;
  if (Array.isArray(withList)) {
    for (const w of withList) {
      const name = (w as { name?: { value?: unknown } }).name?.value;
      if (typeof name === "string") out.add(name.toLowerCase());
    }
  }
  for (const v of Object.values(node)) collectCtes(v, out);
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.slice(0, 160);
}
