// One build per dialect, not the package's all-dialect one: a tenth of its size and of its source map.
import sqliteSql from "node-sql-parser/build/sqlite.js";
import trinoSql from "node-sql-parser/build/trino.js";
import { InputError } from "../core/errors.js";
import { findTable, qualifiedName, TABLE_LIST } from "../domain/tables.js";

const PARSERS = { sqlite: new sqliteSql.Parser(), trino: new trinoSql.Parser() };

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
 * exactly one statement, a SELECT (WITH included), only catalog tables or
 * CTEs in scope where they are named, and only functions that read their
 * arguments. Comments cannot hide a second statement because the parser, not
 * a prefix check, counts statements.
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
  // node-sql-parser reads \' in a string as an escaped quote; SQLite and Trino end the string there and read
  // what follows as SQL, so 'a\', (SELECT sql FROM sqlite_master), ' -- ' would pass as a single string.
  if (sql.includes("\\'")) throw new InputError("refused: a backslash before a quote, which the parser and the database read differently");
  let ast: unknown;
  try {
    ast = PARSERS[database].astify(sql, { database });
  } catch (err) {
    throw new InputError(`refused: the SQL does not parse (${firstLine((err as Error).message)})`);
  }
  const statements = (Array.isArray(ast) ? ast : [ast]) as { type?: string }[];
  if (statements.length !== 1) throw refuse(`${statements.length} statements`);
  const type = String(statements[0]!.type ?? "unknown").toUpperCase();
  if (type !== "SELECT") throw refuse(`${type} statement`);
  let tables: string[];
  try {
    tables = PARSERS[database].tableList(sql, { database });
  } catch (err) {
    throw new InputError(`refused: the SQL does not parse (${firstLine((err as Error).message)})`);
  }
  for (const entry of tables) {
    const op = entry.slice(0, entry.indexOf("::"));
    if (op.toLowerCase() !== "select") throw refuse(`${op.toUpperCase()} on ${entry.slice(entry.lastIndexOf("::") + 2)}`);
  }
  const judged = judge(statements[0], POLICIES[database]);
  // The parser's own table list is the cross-check: a table in a place the walk does not know is refused, not let through.
  const unjudged = tables.find((t) => !judged.has(t));
  if (unjudged)
    throw new InputError(
      `refused: the guard cannot place the table ${unjudged
        .split("::")
        .slice(1)
        .filter((p) => p !== "null")
        .join(".")}`,
    );
}

/**
 * SQLite's documented built-in functions that compute from their arguments
 * only (lang_corefunc, lang_aggfunc, windowfunctions, lang_datefunc,
 * lang_mathfunc, json1, percentile). Left out on purpose: load_extension,
 * the sqlite_* introspection functions, changes/total_changes/last_insert_rowid,
 * randomblob and zeroblob (a size argument allocates), subtype, and the
 * fts/rtree/geopoly helpers.
 */
export const SQLITE_FUNCTIONS: ReadonlySet<string> = new Set([
  // core scalar
  "abs",
  "char",
  "coalesce",
  "concat",
  "concat_ws",
  "format",
  "glob",
  "hex",
  "if",
  "ifnull",
  "iif",
  "instr",
  "length",
  "like",
  "likelihood",
  "likely",
  "lower",
  "ltrim",
  "max",
  "min",
  "nullif",
  "octet_length",
  "printf",
  "quote",
  "random",
  "replace",
  "round",
  "rtrim",
  "sign",
  "soundex",
  "substr",
  "substring",
  "trim",
  "typeof",
  "unhex",
  "unicode",
  "unistr",
  "unistr_quote",
  "unlikely",
  "upper",
  // aggregate
  "avg",
  "count",
  "group_concat",
  "string_agg",
  "sum",
  "total",
  "median",
  "percentile",
  "percentile_cont",
  "percentile_disc",
  // window
  "row_number",
  "rank",
  "dense_rank",
  "percent_rank",
  "cume_dist",
  "ntile",
  "lag",
  "lead",
  "first_value",
  "last_value",
  "nth_value",
  // date and time
  "date",
  "time",
  "datetime",
  "julianday",
  "unixepoch",
  "strftime",
  "timediff",
  "current_date",
  "current_time",
  "current_timestamp",
  // math
  "acos",
  "acosh",
  "asin",
  "asinh",
  "atan",
  "atan2",
  "atanh",
  "ceil",
  "ceiling",
  "cos",
  "cosh",
  "degrees",
  "exp",
  "floor",
  "ln",
  "log",
  "log10",
  "log2",
  "mod",
  "pi",
  "pow",
  "power",
  "radians",
  "sin",
  "sinh",
  "sqrt",
  "tan",
  "tanh",
  "trunc",
  // JSON, including the table-valued json_each and json_tree
  "json",
  "jsonb",
  "json_array",
  "jsonb_array",
  "json_array_length",
  "json_error_position",
  "json_extract",
  "jsonb_extract",
  "json_insert",
  "jsonb_insert",
  "json_object",
  "jsonb_object",
  "json_patch",
  "jsonb_patch",
  "json_pretty",
  "json_remove",
  "jsonb_remove",
  "json_replace",
  "jsonb_replace",
  "json_set",
  "jsonb_set",
  "json_type",
  "json_valid",
  "json_quote",
  "json_group_array",
  "jsonb_group_array",
  "json_group_object",
  "jsonb_group_object",
  "json_each",
  "json_tree",
  // the parser's form of EXISTS (subquery)
  "exists",
]);

/** Trino has too many functions to list; these describe the server rather than the data. */
const TRINO_REFUSED_FUNCTIONS: ReadonlySet<string> = new Set(["version"]);

interface Policy {
  /** Why the function may not be called, or undefined when it may. */
  refusal(fn: string): string | undefined;
  /** The only functions allowed as a FROM entry: they expand a value, never the schema or a file. */
  tableFunctions: ReadonlySet<string>;
}

const POLICIES: Record<Dialect, Policy> = {
  sqlite: {
    refusal: (fn) => (SQLITE_FUNCTIONS.has(fn) ? undefined : "only SQLite's built-in scalar, aggregate, window, date, math and JSON functions are"),
    tableFunctions: new Set(["json_each", "json_tree"]),
  },
  trino: {
    refusal: (fn) => (TRINO_REFUSED_FUNCTIONS.has(fn) ? "it describes the server, not the data" : undefined),
    // TABLE(...) table functions parse as a function named TABLE here; they can run a connector's own queries.
    tableFunctions: new Set(["unnest"]),
  },
};

type Node = { [key: string]: unknown };
type Scope = ReadonlySet<string>;

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);
const CALLS = new Set(["function", "aggr_func", "window_func"]);

/**
 * SQLite compares names case-insensitively in ASCII only; toLowerCase() would
 * also fold the Kelvin sign into "k" and let a CTE named "pragma_foreign_\u212Aey_list"
 * vouch for the pragma table pragma_foreign_key_list.
 */
const fold = (name: string): string => name.replace(/[A-Z]+/g, (s) => s.toLowerCase());

const cannotRead = (what: string) => new InputError(`refused: ${what} the guard cannot read`);

/**
 * Walks one parsed SELECT, judging every FROM entry in the scope of CTE names
 * it sees there, every function call and every column name; returns the
 * judged tables in the parser's tableList form. An explicit stack: parsed
 * expressions nest thousands deep.
 */
function judge(root: unknown, policy: Policy): Set<string> {
  const judged = new Set<string>();
  const todo: { node: unknown; scope: Scope }[] = [{ node: root, scope: new Set() }];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const { node, scope } = item;
    if (Array.isArray(node)) {
      for (const n of node) todo.push({ node: n, scope });
      continue;
    }
    if (!isNode(node)) continue;
    let inner = scope;
    if (node.type === "select") {
      inner = withScope(node, scope, (cte, s) => todo.push({ node: cte, scope: s }));
      if (node.from != null && !Array.isArray(node.from)) throw cannotRead("a FROM clause");
      for (const entry of (node.from ?? []) as unknown[]) judgeFrom(entry, inner, policy, judged);
    } else if (CALLS.has(String(node.type))) {
      const fn = calledName(node);
      const why = policy.refusal(fn);
      if (why) throw new InputError(`refused: the function ${fn}() is not allowed; ${why}`);
    } else if (node.type === "column_ref" || node.type === "double_quote_string" || node.type === "backticks_quote_string") {
      judgeColumn(node);
    }
    // A SELECT's WITH was walked by withScope, each body in its own scope.
    for (const [key, child] of Object.entries(node)) if (!(key === "with" && node.type === "select")) todo.push({ node: child, scope: inner });
  }
  return judged;
}

/**
 * A SELECT's scope is its parent's plus its own WITH names; UNION parts
 * (`_next`) are children of the first SELECT, so they share its WITH as in
 * SQLite. A CTE body sees the earlier names of its WITH, and its own name
 * when the WITH is RECURSIVE.
 */
function withScope(select: Node, outer: Scope, visit: (cte: Node, scope: Scope) => void): Scope {
  const ctes = Array.isArray(select.with) ? (select.with as unknown[]) : [];
  const recursive = ctes.some((c) => isNode(c) && c.recursive === true);
  let scope = outer;
  for (const cte of ctes) {
    const name = isNode(cte) && isNode(cte.name) && typeof cte.name.value === "string" ? fold(cte.name.value) : undefined;
    if (!isNode(cte) || name === undefined) throw cannotRead("a WITH entry");
    const named = new Set([...scope, name]);
    visit(cte, recursive ? named : scope);
    scope = named;
  }
  return scope;
}

/** A FROM entry is a catalog table, a CTE in scope, a subquery (walked where it appears) or an allowed table function. */
function judgeFrom(entry: unknown, scope: Scope, policy: Policy, judged: Set<string>): void {
  if (!isNode(entry)) throw cannotRead("a FROM entry");
  if (typeof entry.table === "string") return judgeTable([entry.db, entry.schema], entry.table, scope, judged);
  // SQLite has no DUAL: FROM dual names a table like any other.
  if (entry.type === "dual") return judgeTable([], "dual", scope, judged);
  const expr = entry.expr;
  if (isNode(expr) && isNode(expr.ast)) return;
  // Trino's parenthesized join, (a JOIN b ON ...): parser.tableList does not list its tables.
  if (isNode(expr) && expr.type === "tables" && Array.isArray(expr.expr)) {
    for (const inner of expr.expr) judgeFrom(inner, scope, policy, judged);
    return;
  }
  if (isNode(expr) && CALLS.has(String(expr.type))) {
    const fn = calledName(expr);
    if (policy.tableFunctions.has(fn)) return;
    throw new InputError(`refused: the table function ${fn}() is not allowed in FROM; allowed: ${[...policy.tableFunctions].map((f) => `${f}()`).join(", ")}`);
  }
  throw cannotRead("a FROM entry");
}

function judgeTable(qualifiers: unknown[], table: string, scope: Scope, judged: Set<string>): void {
  const quals = qualifiers.filter((q) => q != null);
  if (!quals.every((q): q is string => typeof q === "string")) throw cannotRead(`the table name of ${table}`);
  judged.add(`select::${quals.join(".") || "null"}::${table}`);
  // Only an unqualified name can be a CTE.
  if (quals.length === 0 && scope.has(fold(table))) return;
  const parts = [...quals, table];
  const name = parts.join(".");
  // findTable reads "a.b.c" as a.b: a catalog.schema.table name (or a quoted name with a dot) is never a catalog table.
  if (parts.length > 2 || parts.some((p) => p.includes(".")) || !findTable(name)) {
    throw new InputError(`unknown table "${name}"; tables: ${TABLE_LIST.map(qualifiedName).join(", ")}`);
  }
}

/** The called function's name; names qualified by a schema or catalog (Trino's system.*) are refused. */
function calledName(call: Node): string {
  const { name } = call;
  if (typeof name === "string") return fold(name);
  if (isNode(name)) {
    const parts = [...(name.schema == null ? [] : [name.schema]), ...(Array.isArray(name.name) ? name.name : [name.name])].map((p) =>
      isNode(p) && typeof p.value === "string" ? p.value : undefined,
    );
    if (parts.length === 1 && parts[0] !== undefined) return fold(parts[0]);
    if (parts.length > 1 && parts.every((p) => p !== undefined)) throw new InputError(`refused: the qualified function ${parts.join(".")}() is not allowed`);
  }
  throw cannotRead("a function call");
}

/**
 * Trino's Hive and Iceberg tables have hidden columns ("$path",
 * "$file_modified_time") that name the data files. Outside the select list
 * the parser keeps a quoted column as a quoted string, which both engines
 * read as an identifier (SQLite as built here without double-quoted strings).
 */
function judgeColumn(ref: Node): void {
  const { column } = ref;
  const name =
    ref.type !== "column_ref" ? ref.value : typeof column === "string" ? column : isNode(column) && isNode(column.expr) ? column.expr.value : undefined;
  if (typeof name === "string" && name.startsWith("$")) throw new InputError(`refused: the hidden column "${name}"`);
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.slice(0, 160);
}
