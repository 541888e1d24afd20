import { describe, expect, it } from "vitest";
import { InputError } from "../core/errors.js";
import type { RuleSpec } from "../domain/rule-spec.js";
import { RuleTable } from "./rules.js";
import { StateStore } from "./store.js";

const speeding: RuleSpec = {
  name: "speeding",
  condition: { kind: "threshold", field: "speed", op: ">", value: 120 },
  scope: {},
  severity: "medium",
  clear_seconds: 60,
};
const redFast: RuleSpec = {
  name: "red_fast",
  condition: { kind: "threshold", field: "speed", op: ">", value: 140, for_seconds: 10 },
  scope: { colors: ["Red"] },
  severity: "high",
  clear_seconds: 30,
};

describe("the rule table", () => {
  it("seeds once per database, with the names as ids, and not again after the seeds were deleted", () => {
    const table = new RuleTable(new StateStore(":memory:"));
    expect(table.seed([speeding], 1000)).toBe(true);
    expect(table.list()).toEqual([{ ...speeding, id: "speeding", enabled: true, version: 1, updated_by: "seed", updated_at: 1000 }]);
    table.delete("speeding", "admin:1", 2000);
    expect(table.seed([speeding], 3000)).toBe(false);
    expect(table.list()).toEqual([]);
  });

  it("keeps every version with who changed it, and moves the revision with each change", () => {
    const table = new RuleTable(new StateStore(":memory:"));
    const r0 = table.revision();
    const created = table.create(redFast, "telegram:7", 10);
    expect(created).toMatchObject({ name: "red_fast", enabled: true, version: 1, updated_by: "telegram:7" });
    expect(created.id).toMatch(/^r[0-9a-f]{12}$/);
    table.update("red_fast", { ...redFast, severity: "low" }, "telegram:8", 20);
    table.setEnabled(created.id, false, "console:1", 30);
    // Disabling a disabled rule changes nothing but the revision.
    expect(table.setEnabled("red_fast", false, "console:1", 40).version).toBe(3);
    const gone = table.delete("red_fast", "api:2", 50);
    expect(gone).toMatchObject({ version: 3, enabled: false, severity: "low" });
    expect(table.revision()).toBe(r0 + 5);
    expect(table.get("red_fast")).toBeUndefined();
    expect(table.history(created.id).map((v) => [v.version, v.change, v.enabled, v.severity, v.updated_by, v.updated_at])).toEqual([
      [1, "created", true, "high", "telegram:7", 10],
      [2, "updated", true, "low", "telegram:8", 20],
      [3, "disabled", false, "low", "console:1", 30],
      [4, "deleted", false, "low", "api:2", 50],
    ]);
  });

  it("refuses a second rule of one name and a rule that is not there, changing nothing", () => {
    const table = new RuleTable(new StateStore(":memory:"));
    table.create(redFast, "a", 1);
    const r = table.revision();
    expect(() => table.create(redFast, "a", 2)).toThrow(new InputError("a rule named red_fast exists already"));
    expect(() => table.update("nope", redFast, "a", 2)).toThrow(new InputError("no rule nope (list_rules shows them)"));
    expect(table.revision()).toBe(r);
    expect(table.list()).toHaveLength(1);
  });

  it("is shared by every process on the file: a change made through one handle is seen through another", () => {
    const dir = `${process.env.TMPDIR ?? "/tmp"}/rules-${process.pid}-${Date.now()}.db`;
    const a = new RuleTable(new StateStore(dir));
    const b = new RuleTable(new StateStore(dir));
    const before = b.revision();
    a.create(redFast, "a", 1);
    expect(b.revision()).toBe(before + 1);
    expect(b.get("red_fast")?.condition).toEqual(redFast.condition);
  });
});
