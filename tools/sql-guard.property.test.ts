/**
 * Property tests of the SQL guard (issue #13 point 7). Statements come from a
 * small grammar of SELECTs with nested CTE scopes, subqueries, joins, unions
 * and function calls, plus hostile forms around them; a model that follows
 * SQLite's name resolution says which ones the guard must refuse. Every
 * statement the guard accepts for SQLite is also compiled and run on real
 * catalog files, and its VDBE program is read to see what it opens.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { InputError } from "../core/errors.js";
import { SCHEMAS, TABLE_LIST } from "../domain/tables.js";
import { createTableSql } from "../pipeline/stores/sqlite/schema.js";
import { type Dialect, guardSql } from "./sql-guard.js";

const SEED = 1337;
const MAX_GUARD_MS = 1000;

/** A generated statement and the model's verdict: bad means the guard must refuse it. */
interface Case {
  sql: string;
  bad: boolean;
}

// SQLite matches names case-insensitively in ASCII only.
const fold = (name: string): string => name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
const CATALOG_NAMES = new Set(TABLE_LIST.map((t) => t.name));

/** The pieces the grammar draws from, per dialect; a `bad*` piece makes a statement refusable (a bare table name unless a CTE in scope shadows it). */
interface Pieces {
  tables: readonly string[];
  badTables: readonly string[];
  tableFunctions: readonly string[];
  badTableFunctions: readonly string[];
  calls: readonly string[];
  badCalls: readonly string[];
  aggregates: readonly string[];
  /** (a JOIN b ON ...) in FROM: node-sql-parser reads it for Trino only. */
  parenthesizedJoins: boolean;
}

const catalogTables = [...TABLE_LIST.map((t) => `${t.schema}.${t.name}`), "cars", "ALERTS", '"incidents"', "Dims.Car_Colors"];

const SQLITE: Pieces = {
  tables: catalogTables,
  badTables: [
    "sqlite_master",
    "sqlite_schema",
    "sqlite_temp_master",
    "SQLITE_MASTER",
    '"sqlite_schema"',
    "main.sqlite_master",
    "temp.sqlite_schema",
    "dims.sqlite_master",
    "telemetry.sqlite_schema",
    "dbstat",
    "pragma_database_list",
    "pragma_table_list",
    '"pragma_function_list"',
    "main.secrets",
    "temp.cars",
    "main.cars",
    "evil.cars",
    '"dims.cars"',
  ],
  tableFunctions: ["json_each('[1,2]')", `json_tree('{"a":[1]}')`, "JSON_EACH('[]')"],
  badTableFunctions: [
    "pragma_table_info('cars')",
    "pragma_index_list('alerts')",
    "pragma_table_xinfo('cars')",
    "pragma_foreign_key_list('cars')",
    "PRAGMA_TABLE_INFO('cars')",
    "dbstat('dims')",
    "generate_series(1, 3)",
  ],
  calls: [
    "upper('a')",
    "abs(-1)",
    "coalesce(NULL, 2)",
    "round(1.5)",
    `json_extract('{"a":1}', '$.a')`,
    "date('now')",
    "printf('%d', 1)",
    "Length('abc')",
    "iif(1, 2, 3)",
    "strftime('%Y', 'now')",
    "CURRENT_TIMESTAMP",
    "substr('abc', 2)",
    "typeof(1)",
    "sqrt(4)",
  ],
  badCalls: [
    "sqlite_version()",
    "SQLITE_VERSION()",
    "sqlite_source_id()",
    "sqlite_compileoption_get(0)",
    "sqlite_compileoption_used('DEBUG')",
    "load_extension('x')",
    `"load_extension"('x')`,
    "`load_extension`('x')",
    "randomblob(4)",
    "zeroblob(4)",
    "changes()",
    "total_changes()",
    "last_insert_rowid()",
    "fts3_tokenizer('simple')",
    "readfile('/etc/passwd')",
    "main.upper('a')",
    "sqlite_log(1, 'x')",
    "subtype(1)",
    "1 IN pragma_table_info('cars')",
    "upper(sqlite_version())",
  ],
  aggregates: ["count(*)", "max(1)", "sum(1)", "row_number() OVER (PARTITION BY 1)"],
  parenthesizedJoins: false,
};

const TRINO: Pieces = {
  tables: catalogTables,
  badTables: [
    "system.runtime.queries",
    "system.metadata.catalogs",
    "information_schema.tables",
    'telemetry."alerts$files"',
    'telemetry."cars_raw$snapshots"',
    "iceberg.telemetry.alerts",
    "telemetry.alerts.evil",
    "sqlite_master",
  ],
  tableFunctions: ["UNNEST(ARRAY[1, 2])"],
  badTableFunctions: ["TABLE(system.query('SELECT 1'))", "TABLE(query('SELECT 1'))"],
  calls: ["upper('a')", "abs(-1)", "coalesce(NULL, 2)", "round(1.5)", "length('abc')"],
  badCalls: ["version()", "VERSION()", `"system"."query"(1)`, `"$path"`, `upper("$file_modified_time")`],
  aggregates: ["count(*)", "max(1)", "approx_distinct(1)"],
  parenthesizedJoins: true,
};

/** CTE names, shadowing catalog tables and SQLite's schema and pragma tables; the Kelvin sign (U+212A) is not "k" to SQLite. */
const CTE_REFS = ["a", "b", "recent", "cars", "alerts", "pragma_database_list", "sqlite_master", "dbstat", "kv", "pragma_foreign_key_list"];
const CTE_DECLS = [...CTE_REFS, "SQLITE_MASTER", "Recent", "\u212Av", "pragma_foreign_\u212Aey_list"];

const pick = (xs: readonly string[], bad: boolean): fc.Arbitrary<Case> => fc.constantFrom(...xs).map((sql) => ({ sql, bad }));
const all = (parts: readonly Case[], sql: string): Case => ({ sql, bad: parts.some((p) => p.bad) });

/**
 * The grammar: depth bounds the nesting; scope holds the folded CTE names
 * SQLite would resolve there. A clean grammar draws no bad piece and names
 * only CTEs in scope, so that its statements run; a hostile one mixes bad
 * pieces in.
 */
class Grammar {
  constructor(
    private readonly p: Pieces,
    private readonly hostile: boolean,
  ) {}

  select(depth: number, scope: ReadonlySet<string>): fc.Arbitrary<Case> {
    const names = depth > 0 ? fc.uniqueArray(fc.constantFrom(...CTE_DECLS), { maxLength: 2, selector: fold }) : fc.constant([]);
    return fc.tuple(names, fc.boolean()).chain(([decls, recursive]) => {
      const declared = decls.map(fold);
      // A CTE body sees the earlier names of its WITH, and its own when the WITH is RECURSIVE.
      const bodies = declared.map((name, i) => this.select(depth - 1, new Set([...scope, ...declared.slice(0, i), ...(recursive ? [name] : [])])));
      return fc.tuple(fc.tuple(...bodies), this.compound(depth, new Set([...scope, ...declared]))).map(([ctes, body]) => {
        if (ctes.length === 0) return body;
        const list = ctes.map((c, i) => `"${decls[i]}" AS (${c.sql})`).join(", ");
        return all([...ctes, body], `WITH ${recursive ? "RECURSIVE " : ""}${list} ${body.sql}`);
      });
    });
  }

  private compound(depth: number, scope: ReadonlySet<string>): fc.Arbitrary<Case> {
    const single = this.core(depth, scope, true);
    if (depth === 0) return single;
    const part = this.core(depth, scope, false);
    const union = fc.tuple(part, fc.constantFrom(" UNION ", " UNION ALL "), part).map(([a, op, b]) => all([a, b], a.sql + op + b.sql));
    return fc.oneof(single, union);
  }

  /** One SELECT with one result column, so that any of them can be a scalar subquery, an IN list or a UNION part. */
  private core(depth: number, scope: ReadonlySet<string>, ordered: boolean): fc.Arbitrary<Case> {
    const item = fc.oneof(this.expr(depth, scope), pick(this.p.aggregates, false));
    const sources = fc.array(this.source(depth, scope), { maxLength: 2 });
    const join = fc.constantFrom(", ", " JOIN ", " LEFT JOIN ");
    const where = fc.option(this.expr(depth, scope), { nil: undefined });
    const order = ordered ? fc.option(this.expr(depth, scope), { nil: undefined }) : fc.constant(undefined);
    return fc.tuple(item, sources, join, this.expr(depth, scope), where, order).map(([it, from, j, on, w, o]) => {
      const aliased = from.map((s, i) => `${s.sql} AS s${i}`);
      const fromSql =
        aliased.length === 0 ? "" : ` FROM ${aliased[0]}${aliased[1] === undefined ? "" : j === ", " ? `, ${aliased[1]}` : `${j}${aliased[1]} ON ${on.sql}`}`;
      const used = [it, ...from, ...(aliased.length === 2 && j !== ", " ? [on] : []), ...(w ? [w] : []), ...(o ? [o] : [])];
      return all(used, `SELECT ${it.sql} AS v${fromSql}${w ? ` WHERE ${w.sql}` : ""}${o ? ` ORDER BY ${o.sql}` : ""}`);
    });
  }

  private source(depth: number, scope: ReadonlySet<string>): fc.Arbitrary<Case> {
    const ref = (names: Iterable<string>) =>
      fc.tuple(fc.constantFrom(...names), fc.boolean()).map(([name, upper]) => ({
        sql: `"${upper ? name.toUpperCase() : name}"`,
        bad: !scope.has(fold(name)) && !CATALOG_NAMES.has(name),
      }));
    // Bad pieces are rare: a statement should hold about one, or one bad piece hides whether the guard saw another.
    const bad = this.hostile ? 1 : 0;
    const options = [
      { arbitrary: pick(this.p.tables, false), weight: 6 },
      { arbitrary: ref([...scope, ...CATALOG_NAMES]), weight: 6 },
      { arbitrary: ref(CTE_REFS), weight: bad },
      // A CTE in scope shadows even sqlite_master: then the name reads the CTE.
      { arbitrary: pick(this.p.badTables, true).map((t) => ({ ...t, bad: !scope.has(fold(t.sql.replace(/^"(.*)"$/, "$1"))) })), weight: bad },
      { arbitrary: pick(this.p.tableFunctions, false), weight: 2 },
      { arbitrary: pick(this.p.badTableFunctions, true), weight: bad },
    ];
    // A CTE in scope spelled in plain ASCII: the same name to JavaScript's toLowerCase() only when it holds a Kelvin sign.
    const lookalikes = [...scope].filter((n) => n.includes("\u212A")).map((n) => n.replace(/\u212A/g, "k"));
    if (lookalikes.length > 0) options.push({ arbitrary: ref(lookalikes), weight: bad * 3 });
    if (depth > 0) {
      options.push({ arbitrary: this.select(depth - 1, scope).map((s) => ({ ...s, sql: `(${s.sql})` })), weight: 3 });
      const inner = this.source(depth - 1, scope);
      const joined = fc.tuple(inner, inner).map(([a, b]) => all([a, b], `(${a.sql} AS j${depth}a JOIN ${b.sql} AS j${depth}b ON 1)`));
      options.push({ arbitrary: joined, weight: this.p.parenthesizedJoins ? 1 : 0 });
    }
    return fc.oneof(...options);
  }

  private expr(depth: number, scope: ReadonlySet<string>): fc.Arbitrary<Case> {
    const options = [
      { arbitrary: pick(["1", "'x'", "NULL"], false), weight: 6 },
      { arbitrary: pick(this.p.calls, false), weight: 6 },
      { arbitrary: pick(this.p.badCalls, true), weight: this.hostile ? 1 : 0 },
    ];
    if (depth > 0) {
      const sub = this.select(depth - 1, scope);
      for (const wrap of [(s: string) => `(${s})`, (s: string) => `EXISTS (${s})`, (s: string) => `1 IN (${s})`]) {
        options.push({ arbitrary: sub.map((s) => ({ ...s, sql: wrap(s.sql) })), weight: 1 });
      }
      options.push({ arbitrary: this.expr(depth - 1, scope).map((e) => ({ ...e, sql: `coalesce(${e.sql}, 0)` })), weight: 1 });
    }
    return fc.oneof(...options);
  }
}

const WRITES = [
  "INSERT INTO dims.car_colors VALUES (99, 'Pink')",
  "REPLACE INTO dims.car_colors VALUES (1, 'Pink')",
  "UPDATE dims.cars SET driver_id = 0",
  "DELETE FROM telemetry.alerts",
  "DROP TABLE dims.cars",
  "CREATE TABLE dims.x (a)",
  "CREATE TEMP VIEW v AS SELECT 1",
  "ATTACH DATABASE '/tmp/evil.db' AS evil",
  "DETACH DATABASE dims",
  "PRAGMA writable_schema = ON",
  "PRAGMA dims.journal_mode = DELETE",
  "VACUUM",
  "VACUUM INTO '/tmp/copy.db'",
  "ALTER TABLE dims.cars ADD COLUMN x",
  "REINDEX",
  "ANALYZE",
  "BEGIN IMMEDIATE",
  "SAVEPOINT s",
  "WITH a AS (SELECT 1) DELETE FROM dims.cars",
  "WITH a AS (SELECT 1) INSERT INTO dims.car_colors SELECT 1, 'x' FROM a",
  "EXPLAIN DELETE FROM dims.cars",
  "EXPLAIN QUERY PLAN UPDATE dims.cars SET car_id = 1",
];

/** A generated statement as it may arrive: dressed harmlessly, or as a write hidden behind comments and semicolons. */
function statements(pieces: Pieces): fc.Arbitrary<Case> {
  const base = fc.oneof(new Grammar(pieces, false).select(2, new Set()), new Grammar(pieces, true).select(2, new Set()));
  const write = fc.constantFrom(...WRITES);
  const dressed = fc
    .tuple(
      base,
      fc.constantFrom("", "-- note\n", "/* note */ ", "\n  ", "EXPLAIN ", "EXPLAIN QUERY PLAN "),
      fc.constantFrom("", ";", " ;", " -- ; DROP TABLE dims.cars", " /* ; DELETE FROM dims.cars */"),
    )
    .map(([b, pre, post]) => ({ sql: pre + b.sql + post, bad: b.bad }));
  const hostile = fc.oneof(
    write.map((sql) => ({ sql, bad: true })),
    fc.tuple(base, fc.constantFrom("; ", ";\n", " /* x */ ; ", "; -- c\n", ";;"), write).map(([b, sep, w]) => ({ sql: b.sql + sep + w, bad: true })),
    fc.tuple(write, base).map(([w, b]) => ({ sql: `${w}; ${b.sql}`, bad: true })),
    fc.tuple(base, write).map(([b, w]) => ({ sql: `/* ${b.sql} */ ${w}`, bad: true })),
    fc.tuple(base, write).map(([b, w]) => ({ sql: `-- ${b.sql}\n${w}`, bad: true })),
    base.map((b) => ({ sql: `CREATE TABLE dims.copy AS ${b.sql}`, bad: true })),
    base.map((b) => ({ sql: `INSERT INTO dims.car_colors ${b.sql}`, bad: true })),
    fc.tuple(base, base).map(([a, b]) => ({ sql: `${a.sql}; ${b.sql}`, bad: true })),
  );
  return fc.oneof({ arbitrary: dressed, weight: 3 }, { arbitrary: hostile, weight: 1 });
}

/**
 * Lexical smuggling: a leak where node-sql-parser may see a string, an
 * identifier or a comment and SQLite may not. No model verdict: SQLite's own
 * reading decides, in the lakehouse check of whatever the guard accepts.
 */
const LEAKS = ["(SELECT sql FROM sqlite_master)", "(SELECT file FROM pragma_database_list)", "sqlite_version()", "(SELECT count(*) FROM dbstat)"];
const HIDERS: readonly ((leak: string) => string)[] = [
  (l) => `SELECT 'x\\', ${l}, ' -- '`,
  (l) => `SELECT E'x\\', ${l}, ' -- '`,
  (l) => `SELECT 1 AS "x\\", ${l} AS " -- "`,
  (l) => `SELECT 1 AS \`x\\\`, ${l} AS \` -- \``,
  (l) => `SELECT 1 /* /* */ , ${l} -- */`,
  (l) => `SELECT 1 /*! , ${l} */`,
  (l) => `SELECT $$ , ${l}, $$`,
  (l) => `SELECT 1 #\n, ${l}`,
  ...["\r", "\u2028", "\u0085", "\f", "\v"].map((eol) => (l: string) => `SELECT 1 -- x${eol}, ${l}`),
];

/** Token soup: mostly not SQL at all, for "never anything but an InputError". */
const TOKENS = [
  "SELECT",
  "FROM",
  "WHERE",
  "WITH",
  "RECURSIVE",
  "AS",
  "(",
  ")",
  ",",
  ";",
  "--",
  "/*",
  "*/",
  "\n",
  "'",
  '"',
  "`",
  "[",
  "]",
  "UNION",
  "JOIN",
  "ON",
  "IN",
  "EXISTS",
  "EXPLAIN",
  "1",
  "x",
  "*",
  "sqlite_master",
  "pragma_table_info",
  "pragma_database_list",
  "dims.cars",
  "cars",
  "json_each",
  "upper",
  "count",
  "DELETE",
  "INSERT",
  "PRAGMA",
  "ATTACH",
  "#",
  "$path",
  "\u212A",
  "\u0000",
  "\u00e9",
  "TABLE",
  "system",
  "\\",
  "'x\\'",
  "$$",
  "\r",
];
const soup = fc.oneof(
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(" ")),
  fc.string({ unit: fc.constantFrom(...TOKENS), maxLength: 40 }),
  fc.string({ maxLength: 80 }),
);

/** Runs the guard; anything thrown but an InputError, or a slow answer, fails the property. */
function outcome(sql: string, dialect: Dialect): ReturnType<typeof guardSql> | InputError {
  const started = performance.now();
  let result: ReturnType<typeof guardSql> | InputError;
  try {
    result = guardSql(sql, dialect);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    result = err;
  }
  expect(performance.now() - started).toBeLessThan(MAX_GUARD_MS);
  return result;
}

interface Op {
  opcode: string;
  p2: number;
  p3: number;
  p4: unknown;
}

// VDBE opcodes that change a file or read the engine's own state rather than a table.
const FORBIDDEN_OPS = new Set([
  "OpenWrite",
  "VUpdate",
  "VCreate",
  "VDestroy",
  "Destroy",
  "Clear",
  "CreateBtree",
  "DropTable",
  "DropIndex",
  "DropTrigger",
  "ParseSchema",
  "SqlExec",
  "Vacuum",
  "IncrVacuum",
  "JournalMode",
  "Checkpoint",
  "Pagecount",
  "MaxPgcnt",
  "ReadCookie",
  "SetCookie",
  "IntegrityCk",
  "Offset",
]);
const CALL_OPS = new Set(["Function", "PureFunc", "AggStep", "AggStep1", "AggFinal", "AggValue", "AggInverse"]);
const FORBIDDEN_FUNCTIONS = /^(load_extension|sqlite_\w+|randomblob|zeroblob|changes|total_changes|last_insert_rowid|fts3_tokenizer|subtype)\(/;

/**
 * The catalog's real tables in a temp dir, opened as the query worker opens
 * them: read-only, the schemas attached, query_only on. What a statement may
 * touch is read from SQLite itself: sqlite3_stmt_readonly, the root pages its
 * program opens, the virtual tables it opens, the functions it calls, and the
 * files' bytes before and after it runs.
 */
class Lakehouse {
  private readonly dir = mkdtempSync(join(tmpdir(), "carwatch-sql-guard-"));
  private readonly db: Database.Database;
  private readonly roots = new Set<string>();
  private readonly jsonTables: Set<unknown>;
  ran = 0;

  constructor() {
    const main = join(this.dir, "main.db");
    const setup = new Database(main);
    for (const schema of SCHEMAS) setup.prepare(`ATTACH DATABASE ? AS ${schema}`).run(join(this.dir, `${schema}.db`));
    for (const t of TABLE_LIST) for (const ddl of createTableSql(t)) setup.exec(ddl);
    setup.prepare("INSERT INTO dims.cars (car_id, driver_id, model_id, color_id) VALUES (1, 1, 1, 1)").run();
    setup.close();
    this.db = new Database(main, { readonly: true, fileMustExist: true });
    for (const schema of SCHEMAS) this.db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(join(this.dir, `${schema}.db`));
    this.db.pragma("query_only = ON");
    for (const { seq, name } of this.db.pragma("database_list") as { seq: number; name: string }[]) {
      if (!(SCHEMAS as readonly string[]).includes(name)) continue;
      for (const root of this.db.prepare(`SELECT rootpage FROM ${name}.sqlite_master WHERE rootpage > 0`).pluck().all())
        this.roots.add(`${seq}:${String(root)}`);
    }
    // Eponymous virtual tables live as long as the connection: their addresses identify them in VOpen.
    this.jsonTables = new Set(["json_each", "json_tree"].map((f) => this.program(`SELECT * FROM ${f}('[]')`).find((op) => op.opcode === "VOpen")?.p4));
  }

  private program(sql: string): Op[] {
    return this.db.prepare(`EXPLAIN ${sql}`).all() as Op[];
  }

  private digest(): string {
    const hash = createHash("sha256");
    for (const f of readdirSync(this.dir).sort()) hash.update(f).update(readFileSync(join(this.dir, f)));
    return hash.digest("hex");
  }

  /** Checks an accepted statement against what SQLite says it does, then runs it. */
  check(guarded: string): void {
    // The guard turns EXPLAIN into EXPLAIN QUERY PLAN, which does not run its body: the body's program is what to read.
    const body = guarded.replace(/^EXPLAIN QUERY PLAN /, "");
    let readonly: boolean;
    let program: Op[];
    try {
      readonly = this.db.prepare(body).readonly;
      program = this.program(body);
    } catch (err) {
      // What SQLite cannot compile, or better-sqlite3 will not start for want of parameters ($path is one in SQLite), runs nothing.
      if (err instanceof Database.SqliteError || (err instanceof Error && /parameter/i.test(err.message))) return;
      throw err;
    }
    expect(readonly, body).toBe(true);
    for (const op of program) {
      expect(FORBIDDEN_OPS.has(op.opcode), `${op.opcode} in ${body}`).toBe(false);
      if (op.opcode === "OpenRead" || op.opcode === "ReopenIdx")
        expect(this.roots.has(`${op.p3}:${op.p2}`), `root page ${op.p3}:${op.p2} in ${body}`).toBe(true);
      if (op.opcode === "VOpen") expect(this.jsonTables.has(op.p4), `virtual table in ${body}`).toBe(true);
      if (op.opcode === "Transaction") expect(op.p2, `write transaction in ${body}`).toBe(0);
      if (CALL_OPS.has(op.opcode)) expect(String(op.p4), body).not.toMatch(FORBIDDEN_FUNCTIONS);
    }
    const before = this.digest();
    try {
      const rows = this.db.prepare(guarded).iterate();
      for (let i = 0; i < 100 && !rows.next().done; i++);
      rows.return?.();
      this.ran++;
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
    }
    expect(this.digest(), `files changed by ${guarded}`).toBe(before);
  }

  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const lakehouse = new Lakehouse();
afterAll(() => lakehouse.close());

const CorpusEntry = z.object({
  sql: z.string(),
  dialect: z.enum(["sqlite", "trino"]).default("sqlite"),
  accept: z.boolean(),
  /** A substring of the refusal, when refused. */
  refusal: z.string().optional(),
  why: z.string(),
});
const corpus = z.array(CorpusEntry).parse(JSON.parse(readFileSync(new URL("../test/corpus/sql-guard/cases.json", import.meta.url), "utf8")));

describe("sql-guard corpus: hostile forms and what the properties found", () => {
  it.each(corpus.map((c) => [c.why, c] as const))("%s", (_why, c) => {
    const result = outcome(c.sql, c.dialect);
    if (!c.accept) {
      expect(result, c.sql).toBeInstanceOf(InputError);
      if (c.refusal) expect((result as InputError).message).toContain(c.refusal);
      return;
    }
    expect(result, c.sql).not.toBeInstanceOf(InputError);
    if (c.dialect === "sqlite" && !(result instanceof InputError) && result.kind === "sql") lakehouse.check(result.sql);
  });
});

describe("the lakehouse check itself", () => {
  it.each([
    ["SELECT sql FROM sqlite_master", /root page 0:1/],
    ["SELECT * FROM dims.sqlite_schema", /root page 2:1/],
    ["SELECT * FROM pragma_database_list", /virtual table/],
    ["SELECT * FROM dbstat", /virtual table/],
    ["SELECT sqlite_version()", /sqlite_version\(0\)/],
    ["SELECT count(*) FROM dims.cars WHERE hex(randomblob(2)) <> ''", /randomblob\(1\)/],
    ["DELETE FROM dims.cars", /expected false to be true/],
  ])("catches %s", (sql, why) => {
    expect(() => lakehouse.check(sql)).toThrow(why);
  });

  it("runs a catalog SELECT", () => {
    const before = lakehouse.ran;
    lakehouse.check("SELECT c.car_id, j.value FROM dims.cars c, json_each('[1]') j WHERE c.car_id IN (SELECT car_id FROM telemetry.alerts)");
    expect(lakehouse.ran).toBe(before + 1);
  });
});

describe("sql-guard against lexical smuggling", () => {
  it.each(HIDERS.flatMap((hide) => LEAKS.map((leak) => [hide(leak)])))("%s is refused or reads nothing outside the catalog", (sql) => {
    const result = outcome(sql, "sqlite");
    if (!(result instanceof InputError) && result.kind === "sql") lakehouse.check(result.sql);
  });
});

describe("sql-guard properties", () => {
  it("SQLite: refuses exactly what the model refuses, and what it accepts reads only the catalog and writes nothing", () => {
    const before = lakehouse.ran;
    fc.assert(
      fc.property(statements(SQLITE), (c) => {
        const result = outcome(c.sql, "sqlite");
        if (c.bad) expect(result, c.sql).toBeInstanceOf(InputError);
        // node-sql-parser cannot read some valid SQLite (EXCEPT, `IN (SELECT (SELECT 1) AS v)`): such a refusal is the parser's limit, any other is the guard's mistake.
        else if (result instanceof InputError) expect(result.message, c.sql).toMatch(/^refused: the SQL does not parse/);
        if (!(result instanceof InputError) && result.kind === "sql") lakehouse.check(result.sql);
      }),
      { seed: SEED, numRuns: 1200 },
    );
    // Most accepted statements must really run, or the checks above prove little.
    expect(lakehouse.ran - before).toBeGreaterThan(450);
  });

  it("Trino: refuses every statement the model calls bad", () => {
    fc.assert(
      fc.property(statements(TRINO), (c) => {
        const result = outcome(c.sql, "trino");
        if (c.bad) expect(result, c.sql).toBeInstanceOf(InputError);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  it("throws nothing but an InputError on arbitrary text, and what it accepts for SQLite stays in the catalog", () => {
    fc.assert(
      fc.property(soup, fc.constantFrom<Dialect>("sqlite", "trino"), (sql, dialect) => {
        const result = outcome(sql, dialect);
        if (dialect === "sqlite" && !(result instanceof InputError) && result.kind === "sql") lakehouse.check(result.sql);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });
});
