import { describe, expect, it } from "vitest";
import { InputError } from "../core/errors.js";
import { guardSql } from "./sql-guard.js";

const refusal = (sql: string): string => {
  try {
    guardSql(sql);
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
    expect(guardSql("EXPLAIN ANALYZE SELECT count(*) FROM telemetry.alerts", "trino")).toEqual({ kind: "sql", sql: "EXPLAIN ANALYZE SELECT count(*) FROM telemetry.alerts" });
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
});
