import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../core/errors.js";
import { RuleTable } from "../state/rules.js";
import { ADMIN, type BotPipeline, botPipeline, generate, OPERATOR, registryFor, startConsumers, VIEWER } from "../test/support/bot-pipeline.js";
import { tokenUserId } from "./api-tokens.js";
import { ConfirmationRequired, PermissionError } from "./errors.js";
import type { Registry } from "./index.js";
import { changedBy } from "./rules.js";

let p: BotPipeline;
let registry: Registry;
let rules: RuleTable;
const admin = { userId: ADMIN, chatId: ADMIN, via: "telegram" as const };
const viewer = { userId: VIEWER, chatId: VIEWER, via: "telegram" as const };

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 3000);
  // The pipeline's watermark (WATERMARK_SECONDS=0 in these pipelines), as app.ts hands it to the tools.
  registry = registryFor(p, { watermarkMs: p.deps.settings.watermarkMs });
  rules = new RuleTable(p.state);
}, 60_000);
afterAll(() => p.close());

/** The confirmation a call asks for (it must ask for one). */
async function confirmation(name: Parameters<Registry["call"]>[0], input: unknown, caller = admin): Promise<ConfirmationRequired> {
  const err = await registry.call(name, input, caller).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfirmationRequired);
  return err as ConfirmationRequired;
}

const speeding = () => {
  const [r] = p.lakehouse.selectSync<{ alerts: number; incidents: number; cars: number }>(
    "SELECT count(*) AS alerts, count(DISTINCT incident_id) AS incidents, count(DISTINCT car_id) AS cars FROM telemetry.alerts WHERE rule_id = 'speeding'",
  );
  return r!;
};
const readings = () => p.count("telemetry.cars_enriched").toLocaleString("en-US");

describe("rule tools", () => {
  it("list_rules shows each rule in normal form with its bookkeeping", async () => {
    const list = await registry.call("list_rules", {}, viewer);
    expect(
      list
        .slice(0, 3)
        .map(({ name, expression, kind, severity, enabled, version, updatedBy }) => ({ name, expression, kind, severity, enabled, version, updatedBy })),
    ).toEqual([
      { name: "speeding", expression: "speed > 120", kind: "threshold", severity: "medium", enabled: true, version: 1, updatedBy: "seed" },
      { name: "high_rpm", expression: "rpm > 6000", kind: "threshold", severity: "medium", enabled: true, version: 1, updatedBy: "seed" },
      { name: "wrong_gear", expression: "wrong gear severity low", kind: "wrong_gear", severity: "low", enabled: true, version: 1, updatedBy: "seed" },
    ]);
  });

  it("backtest_rule of the stored speeding rule gives exactly what the live pipeline raised", async () => {
    const live = speeding();
    const r = await registry.call("backtest_rule", { name: "speeding" }, viewer);
    expect([r.alerts, r.incidents, r.carCount, r.samples.length]).toEqual([live.alerts, live.incidents, live.cars, 5]);
    expect(r.cars).toEqual(
      p.lakehouse.selectSync(
        "SELECT car_id, count(*) AS alerts FROM telemetry.alerts WHERE rule_id = 'speeding' GROUP BY car_id ORDER BY alerts DESC, car_id LIMIT 10",
      ),
    );
    expect(r.summary).toBe(`last hour: ${live.alerts} alerts, ${live.incidents} incidents, ${live.cars} cars (${readings()} readings)`);
    await expect(registry.call("backtest_rule", { name: "nothing_here" }, viewer)).rejects.toThrow(
      "no rule nothing_here: give an expression to backtest a new one",
    );
    await expect(registry.call("backtest_rule", { name: "speeding", since: "8d" }, viewer)).rejects.toThrow(
      "since: a backtest reads every reading of the period: at most 7d",
    );
  });

  it("refuses a bad expression with the column, a viewer, and a name taken, before any confirmation", async () => {
    const bad = await registry.call("create_rule", { name: "fast", expression: "speed = 140" }, admin).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InputError);
    expect((bad as Error).message).toBe('column 7: expected a comparison (>, >=, <, <=) after "speed"\nspeed = 140\n      ^');
    await expect(registry.call("create_rule", { name: "fast", expression: "speed > 140" }, viewer)).rejects.toEqual(
      new PermissionError("create_rule", "admin"),
    );
    await expect(registry.call("create_rule", { name: "speeding", expression: "speed > 140" }, admin)).rejects.toThrow(
      "a rule named speeding exists already (update_rule changes it)",
    );
    await expect(registry.call("create_rule", { name: "Fast", expression: "speed > 140" }, admin)).rejects.toThrow("name: a rule name is lower case");
    expect(rules.get("fast")).toBeUndefined();
    const audit = p.ops
      .recentAudit(10, ADMIN)
      .filter((a) => a.tool === "create_rule")
      .map((a) => a.outcome);
    expect(audit).toEqual(["invalid", "invalid", "invalid"]);
  });

  it("asks for a confirmation that shows the backtest, then creates the rule with who made it", async () => {
    const live = speeding();
    const ask = await confirmation("create_rule", { name: "fast_copy", expression: "SPEED above 120 km/h" });
    expect(ask.preview).toBe(
      `New rule fast_copy: speed > 120\nBacktest, last hour: ${live.alerts} alerts, ${live.incidents} incidents, ${live.cars} cars (${readings()} readings)`,
    );
    expect(rules.get("fast_copy")).toBeUndefined();
    const made = await registry.call("create_rule", ask.input, admin, { confirmed: true });
    expect(made).toMatchObject({ name: "fast_copy", expression: "speed > 120", kind: "threshold", enabled: true, version: 1, updatedBy: `telegram:${ADMIN}` });
    const stored = rules.get("fast_copy")!;
    expect({ ...stored, id: "x", updated_at: 0 }).toEqual({
      id: "x",
      name: "fast_copy",
      condition: { kind: "threshold", field: "speed", op: ">", value: 120 },
      scope: {},
      severity: "medium",
      clear_seconds: 60,
      enabled: true,
      version: 1,
      updated_by: `telegram:${ADMIN}`,
      updated_at: 0,
    });
  });

  it("updates, disables, enables and deletes, one version each, each confirmed with its backtest", async () => {
    const ask = await confirmation("update_rule", { name: "fast_copy", expression: "speed > 500 for 10s where color in (Red, Blue) severity high" });
    expect(ask.preview).toMatch(
      /^fast_copy\nNow: speed > 120\nBacktest, last hour: \d+ alerts, .*\nNew: speed > 500 for 10s where color in \(Red, Blue\) severity high\nBacktest, last hour: 0 alerts, 0 incidents, 0 cars \(/,
    );
    const updated = await registry
      .call("update_rule", ask.input, { userId: OPERATOR, chatId: null, via: "telegram" }, { confirmed: true })
      .catch((e: unknown) => e);
    expect(updated).toEqual(new PermissionError("update_rule", "admin"));
    await registry.call("update_rule", ask.input, { userId: ADMIN, chatId: null, via: "console" }, { confirmed: true });
    expect((await confirmation("disable_rule", { name: "fast_copy" })).preview).toMatch(
      /^fast_copy: speed > 500 for 10s where color in \(Red, Blue\) severity high\nBacktest, last hour: 0 alerts/,
    );
    await registry.call("disable_rule", { name: "fast_copy" }, admin, { confirmed: true });
    await registry.call("enable_rule", { name: "fast_copy" }, { ...admin, via: "agent" }, { confirmed: true });
    const id = rules.get("fast_copy")!.id;
    await registry.call("delete_rule", { name: "fast_copy" }, admin, { confirmed: true });
    expect(rules.get("fast_copy")).toBeUndefined();
    expect(rules.history(id).map((v) => [v.version, v.change, v.enabled, v.updated_by, v.condition.kind === "threshold" && v.condition.value])).toEqual([
      [1, "created", true, `telegram:${ADMIN}`, 120],
      [2, "updated", true, `console:${ADMIN}`, 500],
      [3, "disabled", false, `telegram:${ADMIN}`, 500],
      [4, "enabled", true, `agent:${ADMIN}`, 500],
      [5, "deleted", false, `telegram:${ADMIN}`, 500],
    ]);
    expect(
      p.ops
        .recentAudit(20, ADMIN)
        .filter((a) => a.tool.endsWith("_rule") && a.outcome === "ok")
        .map((a) => [a.tool, a.via])
        .reverse(),
    ).toEqual([
      ["create_rule", "telegram"],
      ["update_rule", "console"],
      ["disable_rule", "telegram"],
      ["enable_rule", "agent"],
      ["delete_rule", "telegram"],
    ]);
    await expect(registry.call("enable_rule", { name: "fast_copy" }, admin)).rejects.toThrow("no rule fast_copy (list_rules shows them)");
  });

  it("names an API caller by its token id", () => {
    expect(changedBy({ userId: tokenUserId(7), chatId: null, via: "api" })).toBe("api:7");
    expect(changedBy({ userId: 42, chatId: 42, via: "telegram" })).toBe("telegram:42");
  });
});
