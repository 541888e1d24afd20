import { describe, expect, it } from "vitest";
import { inlineParams, literal, parseTimestamp, timestampLiteral } from "./literals.js";

describe("Trino literals", () => {
  it("quotes strings with quotes, unicode and newlines", () => {
    expect(literal("string", "O'Brien's \"car\" 🚗\nZürich")).toBe("'O''Brien''s \"car\" 🚗\nZürich'");
    expect(literal("string", "")).toBe("''");
  });

  it("types numbers, booleans, nulls, json and timestamps", () => {
    expect(literal("int", 42)).toBe("INTEGER '42'");
    expect(literal("double", 1.5)).toBe("DOUBLE '1.5'");
    expect(literal("double", Number.NaN)).toBe("nan()");
    expect(literal("bool", false)).toBe("FALSE");
    expect(literal("int", null)).toBe("NULL");
    expect(literal("json", { a: "it's" })).toBe(`'{"a":"it''s"}'`);
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
