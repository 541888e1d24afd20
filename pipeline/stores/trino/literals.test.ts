import { describe, expect, it } from "vitest";
import { TABLES } from "../../../domain/tables.js";
import { inlineParams, jsonSource, parseTimestamp, timestampLiteral } from "./literals.js";

describe("Trino literals", () => {
  it("packs a batch into one JSON literal with quotes doubled, times as text and typed columns", () => {
    const sql = jsonSource(TABLES.car_colors, [
      { color_id: 1, color_name: "O'Brien 🚗\nZürich" },
      { color_id: 2, color_name: null },
    ]);
    expect(sql).toBe(
      `SELECT color_id, color_name FROM UNNEST(CAST(json_parse('[[1,"O''Brien 🚗\\nZürich"],[2,null]]') AS array(row(color_id integer, color_name varchar)))) AS u(color_id, color_name)`,
    );
    const raw = jsonSource(TABLES.cars_raw, [{ event_id: "e", event_time: Date.UTC(2026, 10, 28, 12, 0, 0, 5), received_at: 0, json: "{}" }]);
    expect(raw).toContain(`'[["e","2026-11-28 12:00:00.005 UTC","1970-01-01 00:00:00.000 UTC","{}"]]'`);
    expect(raw).toContain("CAST(event_time AS timestamp(6) with time zone) AS event_time");
    expect(timestampLiteral(Date.UTC(2026, 10, 28, 12, 0, 0, 123))).toBe("TIMESTAMP '2026-11-28 12:00:00.123 UTC'");
  });

  it("inlines parameters and refuses a count mismatch", () => {
    expect(inlineParams("SELECT * FROM t WHERE a >= ? AND b = ? LIMIT ?", [new Date(0), "x'y", 5])).toBe(
      "SELECT * FROM t WHERE a >= TIMESTAMP '1970-01-01 00:00:00.000 UTC' AND b = 'x''y' LIMIT 5",
    );
    expect(() => inlineParams("SELECT ?", [])).toThrow(/too few/);
    expect(() => inlineParams("SELECT 1", [1])).toThrow(/1 parameters for 0/);
  });

  it("parses Trino's timestamp text to epoch ms", () => {
    expect(parseTimestamp("2026-11-28 12:00:00.123456 UTC")).toBe(Date.UTC(2026, 10, 28, 12, 0, 0, 123));
    expect(parseTimestamp("2026-11-28 12:00:00 UTC")).toBe(Date.UTC(2026, 10, 28, 12));
    expect(parseTimestamp("2026-11-28 13:00:00.000 +01:00")).toBe(Date.UTC(2026, 10, 28, 12));
  });
});
