import { describe, expect, it } from "vitest";
import { fromSqliteTime, toSqliteTime } from "./values.js";

describe("SQLite time text", () => {
  it.each([0, 5, 59, 999, 1000, 1001, Date.UTC(2026, 10, 28, 23, 59, 59, 999), Date.UTC(2026, 11, 31, 0, 0, 0, 7)])(
    "round-trips %d ms in SQLite's own format",
    (ms) => {
      const text = toSqliteTime(ms);
      expect(text).toBe(new Date(ms).toISOString().replace("T", " ").slice(0, 23));
      expect(fromSqliteTime(text)).toBe(ms);
    },
  );
});
