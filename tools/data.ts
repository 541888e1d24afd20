import { z } from "zod";
import { InputError } from "../core/errors.js";
import type { QueryResult, TableInfo } from "../domain/catalog.js";
import { findTable, qualifiedName, SCHEMAS, TABLE_LIST, type TableSpec } from "../domain/tables.js";
import { defineTool, type ToolContext } from "./registry.js";
import { guardSql } from "./sql-guard.js";

export const QUERY_TIMEOUT_MS = 10_000;
export const tableName = z.string().trim().min(1).max(80);
/** A table name checked against the catalog while the input is parsed, so a confirmation is never asked for a table that does not exist. */
export const knownTable = tableName.refine((n) => findTable(n) !== undefined, {
  error: (issue) => `unknown table "${String(issue.input)}"; tables: ${TABLE_LIST.map(qualifiedName).join(", ")}`,
});

/** The catalog's entry for a user's table name; its names, never the user's text, go into SQL. */
export function requireTable(name: string): TableSpec {
  const spec = findTable(name);
  if (!spec) throw new InputError(`unknown table "${name}"; tables: ${TABLE_LIST.map(qualifiedName).join(", ")}`);
  return spec;
}

async function tableInfo(ctx: ToolContext, name: string): Promise<TableInfo> {
  const spec = requireTable(name);
  const info = (await ctx.lakehouse.catalog()).find((t) => t.schema === spec.schema && t.name === spec.name);
  if (!info) throw new InputError(`${qualifiedName(spec)} is not in the lakehouse catalog`);
  return info;
}

export const listSchemas = defineTool({
  name: "list_schemas",
  description: "Lists the lakehouse schemas (dims: dimension tables; telemetry: facts) with their table counts.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: () => SCHEMAS.map((schema) => ({ schema, tables: TABLE_LIST.filter((t) => t.schema === schema).length })),
});

export const listTables = defineTool({
  name: "list_tables",
  description: "Lists the tables of one schema (or of all) with what each holds, and with columns: true their column names.",
  input: z.object({ schema: z.enum(SCHEMAS).optional(), columns: z.boolean().default(false) }),
  role: "viewer",
  destructive: false,
  run: ({ input }) =>
    TABLE_LIST.filter((t) => !input.schema || t.schema === input.schema).map((t) => ({
      table: qualifiedName(t),
      doc: t.doc,
      ...(input.columns ? { columns: t.columns.map((c) => c.name) } : {}),
    })),
});

export const describeTable = defineTool({
  name: "describe_table",
  description: "Columns of a table (schema.table or a bare table name) with types and meanings. Use before writing a query.",
  input: z.object({ table: tableName }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const t = await tableInfo(ctx, input.table);
    return { table: `${t.schema}.${t.name}`, doc: t.doc ?? "", columns: t.columns };
  },
});

export const countRows = defineTool({
  name: "count_rows",
  description: "Counts the rows of one table (schema.table or a bare table name).",
  input: z.object({ table: tableName }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const spec = requireTable(input.table);
    const [row] = await ctx.lakehouse.select<{ n: number }>(`SELECT count(*) AS n FROM ${qualifiedName(spec)}`);
    return { table: qualifiedName(spec), rows: Number(row?.n ?? 0) };
  },
});

export interface QueryAnswer extends QueryResult {
  sql: string;
  maxRows: number;
}

export const query = defineTool({
  name: "query",
  description:
    "Runs one read-only SELECT (or WITH, SHOW, DESCRIBE, EXPLAIN) in the lakehouse's dialect over its tables, with a row limit (default 100, at most 1000) and a 10 s time limit; times are UTC.",
  input: z.object({ sql: z.string().min(1).max(10_000), maxRows: z.coerce.number().int().min(1).max(1000).default(100) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }): Promise<QueryAnswer> => {
    const guarded = guardSql(input.sql, ctx.lakehouse.dialect);
    const started = performance.now();
    const table = (columns: string[], rows: unknown[][]): QueryAnswer => ({
      sql: input.sql,
      maxRows: input.maxRows,
      columns,
      rows: rows.slice(0, input.maxRows),
      truncated: rows.length > input.maxRows,
      elapsedMs: performance.now() - started,
    });
    switch (guarded.kind) {
      case "show_schemas":
        return table(
          ["schema"],
          SCHEMAS.map((s) => [s]),
        );
      case "show_tables":
        return table(
          ["table", "doc"],
          TABLE_LIST.filter((t) => !guarded.schema || t.schema === guarded.schema).map((t) => [qualifiedName(t), t.doc]),
        );
      case "describe": {
        const t = await tableInfo(ctx, guarded.table);
        return table(
          ["column", "type", "doc"],
          t.columns.map((c) => [c.name, c.type, c.doc ?? ""]),
        );
      }
      case "sql": {
        const result = await ctx.lakehouse.query(guarded.sql, { maxRows: input.maxRows, timeoutMs: QUERY_TIMEOUT_MS });
        return { ...result, sql: input.sql, maxRows: input.maxRows };
      }
    }
  },
  // Each row as an object: a small model pairs names with values far better than it lines up two arrays.
  brief: (r) => {
    const keys = r.columns.map((c, i) => (r.columns.indexOf(c) === i ? c : `${c}_${i + 1}`));
    return { rows: r.rows.map((row) => Object.fromEntries(keys.map((k, i) => [k, row[i]]))), ...(r.truncated ? { truncated: true } : {}) };
  },
});

export const DATA_TOOLS = [listSchemas, listTables, describeTable, countRows, query] as const;
