import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { InputError } from "../core/errors.js";
import { type Dialect, guardSql, SQLITE_FUNCTIONS } from "./sql-guard.js";

const refusal = (sql: string, dialect: Dialect = "sqlite"): string => {
  try {
    guardSql(sql, dialect);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error(`guardSql allowed: ${sql}`);
};

describe("guardSql", () => {
  it.each([
    ["SELECT * FROM telemetry.alerts LIMIT 5"],
    ["select rule, count(*) from telemetry.alerts group by rule"],
    ["WITH x AS (SELECT car_id FROM dims.cars) SELECT * FROM x"],
    ["SELECT e.car_id FROM telemetry.cars_enriched e JOIN dims.cars c ON c.car_id = e.car_id"],
    ["SELECT * FROM cars"],
    ["SELECT 1 -- trailing comment"],
    ["SELECT 1;"],
  ])("allows %s", (sql) => {
    expect(guardSql(sql)).toEqual({ kind: "sql", sql });
  });

  it("turns EXPLAIN into a query plan of the checked SELECT", () => {
    expect(guardSql("EXPLAIN SELECT * FROM dims.cars")).toEqual({ kind: "sql", sql: "EXPLAIN QUERY PLAN SELECT * FROM dims.cars" });
    expect(guardSql("explain query plan select 1")).toEqual({ kind: "sql", sql: "EXPLAIN QUERY PLAN select 1" });
    expect(refusal("EXPLAIN DELETE FROM dims.cars")).toBe("refused: DELETE statement. Only one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement is allowed.");
  });

  it("answers SHOW and DESCRIBE from the catalog", () => {
    expect(guardSql("SHOW TABLES")).toEqual({ kind: "show_tables", schema: null });
    expect(guardSql("show tables from dims;")).toEqual({ kind: "show_tables", schema: "dims" });
    expect(guardSql("SHOW SCHEMAS")).toEqual({ kind: "show_schemas" });
    expect(guardSql("DESCRIBE telemetry.alerts")).toEqual({ kind: "describe", table: "telemetry.alerts" });
    expect(guardSql("desc cars")).toEqual({ kind: "describe", table: "dims.cars" });
    expect(refusal("DESCRIBE main.sqlite_master")).toBe('unknown table "main.sqlite_master"');
  });

  it.each([
    ["DROP TABLE dims.cars", "refused: DROP statement"],
    ["DELETE FROM telemetry.alerts", "refused: DELETE statement"],
    ["INSERT INTO dims.car_colors VALUES (99, 'Pink')", "refused: INSERT statement"],
    ["UPDATE dims.cars SET driver_id = 0", "refused: UPDATE statement"],
    ["ATTACH DATABASE '/tmp/evil.db' AS evil", "refused: ATTACH statement"],
    ["SELECT 1; DROP TABLE dims.cars", "refused: 2 statements"],
    ["SELECT 1; SELECT 2", "refused: 2 statements"],
    ["SELECT 1 /* harmless */; DELETE FROM dims.cars -- comment", "refused: 2 statements"],
    ["/* SELECT */ DELETE FROM dims.cars", "refused: DELETE statement"],
    ["-- SELECT\nDROP TABLE dims.cars", "refused: DROP statement"],
  ])("refuses %s", (sql, why) => {
    expect(refusal(sql)).toBe(`${why}. Only one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement is allowed.`);
  });

  it("refuses PRAGMA and other unparsable text", () => {
    expect(refusal("PRAGMA writable_schema = ON")).toMatch(/^refused: the SQL does not parse/);
    expect(refusal("VACUUM")).toMatch(/^refused: /);
    expect(refusal("")).toBe("the query is empty");
  });

  it("refuses tables outside the catalog", () => {
    expect(refusal("SELECT * FROM sqlite_master")).toMatch(/^unknown table "sqlite_master"; tables: dims.car_models, /);
    expect(refusal("SELECT * FROM main.secrets")).toMatch(/^unknown table "main.secrets"/);
  });
});

describe("guardSql, Trino dialect", () => {
  const refusedTrino = (sql: string) => expect(() => guardSql(sql, "trino")).toThrow(/refused|unknown table|does not parse/);

  it("allows Trino SELECTs and EXPLAIN (ANALYZE) of a SELECT", () => {
    const sql = "SELECT rule, count(*) FROM telemetry.alerts WHERE event_time >= current_timestamp - INTERVAL '1' HOUR GROUP BY rule";
    expect(guardSql(sql, "trino")).toEqual({ kind: "sql", sql });
    expect(guardSql("EXPLAIN ANALYZE SELECT count(*) FROM telemetry.alerts", "trino")).toEqual({
      kind: "sql",
      sql: "EXPLAIN ANALYZE SELECT count(*) FROM telemetry.alerts",
    });
  });

  it.each([
    "CREATE TABLE telemetry.x AS SELECT * FROM telemetry.alerts",
    "WITH a AS (SELECT 1) INSERT INTO telemetry.alerts SELECT * FROM telemetry.alerts",
    "EXPLAIN ANALYZE INSERT INTO telemetry.alerts SELECT * FROM telemetry.alerts",
    "EXPLAIN ANALYZE DELETE FROM telemetry.alerts",
    "SELECT 1; DROP TABLE telemetry.alerts",
    "SELECT 1 /* ; */ ; DELETE FROM telemetry.alerts",
    "DELETE FROM telemetry.alerts -- just a comment",
    "ALTER TABLE telemetry.alerts EXECUTE expire_snapshots",
    "SELECT * FROM system.runtime.queries",
  ])("refuses %s", (sql) => refusedTrino(sql));

  const trinoRefusal = (sql: string) => refusal(sql, "trino");

  it("refuses table functions, system functions, server introspection and hidden file columns", () => {
    expect(trinoRefusal("SELECT * FROM TABLE(system.query('SELECT 1'))")).toBe("refused: the table function table() is not allowed in FROM; allowed: unnest()");
    expect(trinoRefusal('SELECT "system"."query"(1)')).toBe("refused: the qualified function system.query() is not allowed");
    expect(trinoRefusal("SELECT version()")).toBe("refused: the function version() is not allowed; it describes the server, not the data");
    expect(trinoRefusal('SELECT "$path", rule FROM telemetry.alerts')).toBe('refused: the hidden column "$path"');
  });

  it("refuses catalog.schema.table names, which findTable alone would read as schema.table", () => {
    expect(trinoRefusal("SELECT * FROM telemetry.alerts.evil")).toMatch(/^unknown table "telemetry.alerts.evil"/);
    expect(trinoRefusal('SELECT * FROM "telemetry.alerts".evil')).toMatch(/^unknown table "telemetry.alerts.evil"/);
    expect(trinoRefusal('SELECT * FROM telemetry."alerts$files"')).toMatch(/^unknown table "telemetry.alerts\$files"/);
  });

  it("judges the tables of a parenthesized join, which parser.tableList leaves out", () => {
    expect(trinoRefusal("SELECT * FROM (telemetry.alerts a JOIN system.runtime.queries q ON 1)")).toMatch(/^unknown table "system.runtime.queries"/);
    const sql = "SELECT count(*) FROM (telemetry.alerts a JOIN dims.cars c ON c.car_id = a.car_id)";
    expect(guardSql(sql, "trino")).toEqual({ kind: "sql", sql });
  });

  it.each([
    "SELECT x FROM UNNEST(ARRAY[1, 2]) AS u(x)",
    "SELECT x, approx_distinct(rule) FROM telemetry.alerts CROSS JOIN UNNEST(ARRAY[1, 2]) AS u(x) GROUP BY x",
  ])("allows UNNEST and ordinary functions: %s", (sql) => {
    expect(guardSql(sql, "trino")).toEqual({ kind: "sql", sql });
  });
});

describe("guardSql, CTE scopes (issue #13)", () => {
  it("does not let a CTE of an inner query hide a pragma table of the outer one", () => {
    // This returned the lakehouse files' absolute paths: the inner CTE's name exempted the outer pragma_database_list.
    expect(refusal("SELECT * FROM pragma_database_list, (WITH pragma_database_list AS (SELECT 1) SELECT * FROM pragma_database_list)")).toMatch(
      /^unknown table "pragma_database_list"; tables: /,
    );
    expect(refusal("SELECT (WITH sqlite_master AS (SELECT 1) SELECT 1), sql FROM sqlite_master")).toMatch(/^unknown table "sqlite_master"/);
    expect(refusal("SELECT 1 WHERE EXISTS (WITH dbstat AS (SELECT 1) SELECT 1) AND 1 IN (SELECT pgno FROM dbstat)")).toMatch(/^unknown table "dbstat"/);
    expect(refusal("WITH a AS (WITH sqlite_schema AS (SELECT 1) SELECT * FROM sqlite_schema) SELECT * FROM a, sqlite_schema")).toMatch(
      /^unknown table "sqlite_schema"/,
    );
  });

  it("lets a CTE body see only the earlier CTEs of its WITH, and itself when RECURSIVE", () => {
    expect(refusal("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a")).toMatch(/^unknown table "b"/);
    expect(refusal("WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master")).toMatch(/^unknown table "sqlite_master"/);
    expect(refusal("WITH r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r")).toMatch(/^unknown table "r"/);
  });

  it.each([
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH a AS (SELECT car_id FROM dims.cars), b AS (SELECT * FROM a) SELECT * FROM b",
    "WITH a AS (SELECT 1 AS v) SELECT v FROM a UNION SELECT v FROM a",
    "WITH a AS (SELECT 1 AS v) SELECT (SELECT v FROM a), v FROM a WHERE v IN (SELECT v FROM a) AND EXISTS (SELECT 1 FROM (SELECT * FROM a))",
    "WITH pragma_database_list AS (SELECT 1 AS v) SELECT * FROM pragma_database_list",
    "WITH CARS AS (SELECT 1 AS v) SELECT * FROM cars",
    "SELECT * FROM (WITH a AS (SELECT 1) SELECT * FROM a) JOIN dims.cars ON 1",
  ])("allows the CTEs in scope: %s", (sql) => {
    expect(guardSql(sql)).toEqual({ kind: "sql", sql });
  });

  it("matches CTE names in ASCII case only, as SQLite does", () => {
    // The Kelvin sign (U+212A) lowercases to "k" in JavaScript but not in SQLite, which then reads the pragma table.
    expect(refusal('WITH "pragma_foreign_\u212Aey_list" AS (SELECT 1) SELECT * FROM pragma_foreign_key_list')).toMatch(
      /^unknown table "pragma_foreign_key_list"/,
    );
  });
});

describe("guardSql, functions (issue #13)", () => {
  const notAllowed = (fn: string) =>
    `refused: the function ${fn}() is not allowed; only SQLite's built-in scalar, aggregate, window, date, math and JSON functions are`;

  it("refuses table-valued pragma functions, in FROM and after IN", () => {
    expect(refusal("SELECT * FROM pragma_table_info('cars')")).toBe(
      "refused: the table function pragma_table_info() is not allowed in FROM; allowed: json_each(), json_tree()",
    );
    expect(refusal("SELECT * FROM dims.cars, pragma_index_list('cars') p")).toMatch(/^refused: the table function pragma_index_list\(\)/);
    expect(refusal("SELECT 1 WHERE 'cars' IN pragma_table_info('cars')")).toBe(notAllowed("pragma_table_info"));
  });

  it.each([
    ["SELECT sqlite_version()", "sqlite_version"],
    ["SELECT SQLITE_SOURCE_ID()", "sqlite_source_id"],
    ["SELECT sqlite_compileoption_get(0)", "sqlite_compileoption_get"],
    ["SELECT \"load_extension\"('/tmp/evil.so')", "load_extension"],
    ["SELECT fts3_tokenizer('simple')", "fts3_tokenizer"],
    ["SELECT hex(zeroblob(1000000000))", "zeroblob"],
    ["SELECT randomblob(1000000000)", "randomblob"],
    ["SELECT total_changes()", "total_changes"],
    ["SELECT readfile('/etc/passwd')", "readfile"],
    ["SELECT car_id FROM dims.cars WHERE sqlite_version() > ''", "sqlite_version"],
    ["SELECT car_id FROM dims.cars ORDER BY sqlite_source_id()", "sqlite_source_id"],
    ["SELECT count(*) FROM dims.cars GROUP BY car_id HAVING max(changes()) = 0", "changes"],
    ["SELECT row_number() OVER (PARTITION BY car_id ORDER BY sqlite_version()) FROM dims.cars", "sqlite_version"],
    ["WITH a AS (SELECT sqlite_version() AS v) SELECT * FROM a", "sqlite_version"],
    ["SELECT * FROM dims.cars c JOIN dims.car_models m ON m.model_id = c.model_id AND last_insert_rowid() = 0", "last_insert_rowid"],
    ["SELECT (SELECT upper(sqlite_version()))", "sqlite_version"],
    ["SELECT * FROM json_each(sqlite_version())", "sqlite_version"],
  ])("refuses %s", (sql, fn) => {
    expect(refusal(sql)).toBe(notAllowed(fn));
  });

  it("refuses a backslash before a quote: the parser reads an escape where SQLite ends the string", () => {
    // The parser saw one string literal; SQLite read sqlite_master.
    expect(refusal("SELECT 'a\\', (SELECT sql FROM sqlite_master), ' -- '")).toBe(
      "refused: a backslash before a quote, which the parser and the database read differently",
    );
    expect(guardSql("SELECT 'C:\\data', 'a''b'")).toEqual({ kind: "sql", sql: "SELECT 'C:\\data', 'a''b'" });
  });

  it("refuses a function qualified by a schema", () => {
    expect(refusal("SELECT main.upper('x')")).toBe("refused: the qualified function main.upper() is not allowed");
  });

  it.each([
    "SELECT j.value FROM json_each('[1,2]') AS j",
    "SELECT t.key FROM telemetry.alert_windows w, json_tree(w.rule_counts) t",
    "SELECT strftime('%Y-%m-%d %H:%M', event_time), round(avg(speed), 1), count(DISTINCT car_id) FROM telemetry.alerts GROUP BY 1",
    "SELECT lag(speed) OVER (PARTITION BY car_id ORDER BY event_time), printf('%.1f', speed) FROM telemetry.alerts",
    "SELECT json_extract(rule_counts, '$.speeding'), rule_counts ->> '$.high_rpm' FROM telemetry.alert_windows",
    "SELECT datetime('now', '-1 hour'), CURRENT_TIMESTAMP, coalesce(NULL, 1), iif(1, 'a', 'b'), sqrt(4), CAST(1 AS TEXT)",
    "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM dims.cars)",
  ])("allows %s", (sql) => {
    expect(guardSql(sql)).toEqual({ kind: "sql", sql });
  });

  it("allows only functions the bundled SQLite has", () => {
    const db = new Database(":memory:");
    const known = new Set((db.prepare("SELECT DISTINCT name FROM pragma_function_list").pluck().all() as string[]).concat("json_each", "json_tree", "exists"));
    db.close();
    expect([...SQLITE_FUNCTIONS].filter((f) => !known.has(f))).toEqual([]);
  });
});
