import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../core/errors.js";
import { ADMIN, type BotPipeline, botPipeline, generate, OPERATOR, STRANGER, startConsumers, VIEWER } from "../test/support/bot-pipeline.js";
import { ConfirmationRequired, PermissionError } from "./errors.js";
import type { Caller } from "./registry.js";

const as = (userId: number): Caller => ({ userId, chatId: 77, via: "telegram" });
let p: BotPipeline;

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 6000);
});
afterAll(() => p.close());

describe("the registry's permission checks and audit", () => {
  it("refuses a viewer a destructive tool before anything else, and audits the refusal", async () => {
    await expect(p.registry.call("stop_stage", { stage: "enrich" }, as(VIEWER), { confirmed: true })).rejects.toThrow(PermissionError);
    expect(p.supervisor.status("enrich").state).toBe("running");
    const [entry] = p.ops.recentAudit(1);
    expect(entry).toMatchObject({
      userId: VIEWER,
      chatId: 77,
      tool: "stop_stage",
      outcome: "denied",
      message: "stop_stage needs the operator role",
      args: { stage: "enrich" },
    });
  });

  it("leaves internal reads out of the audit log, checks them like any call, and never runs a destructive tool as one", async () => {
    const before = p.ops.recentAudit(1)[0]?.id ?? 0;
    await p.registry.call("list_stages", {}, as(OPERATOR), { internal: true });
    await expect(p.registry.call("list_stages", {}, as(STRANGER), { internal: true })).rejects.toThrow(PermissionError);
    await expect(p.registry.call("stop_stage", { stage: "enrich" }, as(OPERATOR), { internal: true, confirmed: true })).rejects.toThrow(
      "stop_stage changes the system: it cannot run as an internal read",
    );
    expect(p.supervisor.status("enrich").state).toBe("running");
    expect(p.ops.recentAudit(1)[0]?.id ?? 0).toBe(before);
  });

  it("whoami returns the tools the caller's role may use through its entry point", async () => {
    const viewer = await p.registry.call("whoami", {}, as(VIEWER));
    expect(viewer.role).toBe("viewer");
    expect(viewer.tools).toContain("list_stages");
    expect(viewer.tools).not.toContain("stop_stage");
    expect((await p.registry.call("whoami", {}, as(OPERATOR))).tools).toContain("stop_stage");
    // create_token's secret never goes to a model's provider: not offered through the agent.
    expect((await p.registry.call("whoami", {}, { ...as(ADMIN), via: "agent" })).tools).not.toContain("create_token");
    expect((await p.registry.call("whoami", {}, as(ADMIN))).tools).toContain("create_token");
    expect(p.registry.sqlDialect).toBe("SQLite");
  });

  it("refuses a stranger every tool, even whoami", async () => {
    for (const name of ["whoami", "list_stages", "query"] as const) {
      await expect(p.registry.call(name, {}, as(STRANGER))).rejects.toThrow(PermissionError);
    }
    expect(p.ops.recentAudit(3, STRANGER).map((e) => e.outcome)).toEqual(["denied", "denied", "denied"]);
  });

  it("asks for a confirmation of a destructive tool, then runs it once confirmed", async () => {
    const err = await p.registry.call("stop_stage", { stage: "aggregate" }, as(OPERATOR)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfirmationRequired);
    expect((err as ConfirmationRequired).input).toEqual({ stage: "aggregate" });
    expect(p.supervisor.status("aggregate").state).toBe("running");
    const status = await p.registry.call("stop_stage", { stage: "aggregate" }, as(OPERATOR), { confirmed: true });
    expect(status.state).toBe("stopped");
    expect(p.ops.recentAudit(2, OPERATOR).map((e) => e.outcome)).toEqual(["ok", "needs_confirmation"]);
    const restarted = await p.registry.call("start_stage", { stage: "aggregate" }, as(OPERATOR));
    expect(restarted.state).toBe("running");
  });

  it("parses input with the tool's schema and refuses what does not fit", async () => {
    await expect(p.registry.call("recent_runs", { limit: 0 }, as(VIEWER))).rejects.toThrow(/^limit: /);
    await expect(p.registry.call("stage_status", { stage: "nope" }, as(VIEWER))).rejects.toThrow('unknown stage "nope"');
    const [entry] = p.ops.recentAudit(1);
    expect(entry).toMatchObject({ tool: "stage_status", outcome: "invalid" });
  });

  it("lists only the tools a role allows", () => {
    const names = (id: number) => p.registry.allowedFor(id).map((t) => t.name);
    expect(names(STRANGER)).toEqual([]);
    expect(names(VIEWER)).not.toContain("stop_stage");
    expect(names(VIEWER)).not.toContain("audit_log");
    expect(names(OPERATOR)).toContain("stop_all");
    expect(names(OPERATOR)).not.toContain("audit_log");
    expect(names(ADMIN)).toHaveLength(p.registry.tools.length);
    // A tool whose result holds a secret is never offered to the agent, nor run for it.
    expect(p.registry.allowedFor(ADMIN, "agent").map((t) => t.name)).not.toContain("create_token");
  });

  it("refuses create_token to the agent even for an admin, so no secret reaches the model's provider", async () => {
    await expect(p.registry.call("create_token", { name: "x", role: "viewer" }, { userId: ADMIN, chatId: 77, via: "agent" })).rejects.toThrow(
      "create_token is not available through agent; use telegram, console, api",
    );
    expect(p.ops.recentAudit(1)[0]).toMatchObject({ tool: "create_token", outcome: "denied" });
  });

  it("keeps audit_log for admins", async () => {
    await expect(p.registry.call("audit_log", {}, as(OPERATOR))).rejects.toThrow(PermissionError);
    const log = await p.registry.call("audit_log", { limit: 3 }, as(ADMIN));
    expect(log).toHaveLength(3);
    expect(log[0]!.tool).toBe("audit_log");
  });
});

describe("data tools", () => {
  const counts = async () => {
    const out: Record<string, number> = {};
    for (const t of ["dims.cars", "dims.car_colors", "telemetry.alerts", "telemetry.cars_enriched"]) {
      out[t] = (await p.registry.call("count_rows", { table: t }, as(ADMIN))).rows;
    }
    return out;
  };

  it("counts rows of catalog tables only", async () => {
    expect(await p.registry.call("count_rows", { table: "cars" }, as(VIEWER))).toEqual({ table: "dims.cars", rows: 50 });
    await expect(p.registry.call("count_rows", { table: "dims.cars; DROP TABLE dims.cars" }, as(VIEWER))).rejects.toThrow(InputError);
    await expect(p.registry.call("count_rows", { table: "sqlite_master" }, as(VIEWER))).rejects.toThrow(/^unknown table "sqlite_master"/);
  });

  it("refuses every write, leaving the tables unchanged", async () => {
    const before = await counts();
    const [dead] = await p.lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.dead_letters");
    expect(before["telemetry.cars_enriched"]! + Number(dead!.n)).toBe(6000);
    for (const sql of [
      "DROP TABLE dims.cars",
      "DELETE FROM telemetry.alerts",
      "INSERT INTO dims.car_colors VALUES (99, 'Pink')",
      "ATTACH DATABASE '/tmp/evil.db' AS evil",
      "PRAGMA dims.journal_mode = DELETE",
      "SELECT 1; DELETE FROM dims.cars",
      "SELECT 1 /* ; */ ; DROP TABLE dims.cars --",
    ]) {
      await expect(p.registry.call("query", { sql }, as(ADMIN)), sql).rejects.toThrow(/^refused: /);
    }
    expect(await counts()).toEqual(before);
  });

  it("limits a huge result and says so", async () => {
    const r = await p.registry.call("query", { sql: "SELECT event_id FROM telemetry.cars_enriched" }, as(VIEWER));
    expect(r.rows).toHaveLength(100);
    expect(r.truncated).toBe(true);
    const r2 = await p.registry.call("query", { sql: "SELECT * FROM telemetry.cars_enriched a, telemetry.cars_enriched b", maxRows: 1000 }, as(VIEWER));
    expect(r2.rows).toHaveLength(1000);
    expect(r2.truncated).toBe(true);
    const small = await p.registry.call("query", { sql: "SELECT color_name FROM dims.car_colors ORDER BY color_id" }, as(VIEWER));
    expect(small).toMatchObject({ columns: ["color_name"], truncated: false });
    expect(small.rows).toHaveLength(7);
  });

  it("answers SHOW, DESCRIBE and EXPLAIN", async () => {
    expect((await p.registry.call("query", { sql: "SHOW TABLES FROM dims" }, as(VIEWER))).rows.map((r) => r[0])).toEqual([
      "dims.car_models",
      "dims.car_colors",
      "dims.cars",
    ]);
    const d = await p.registry.call("query", { sql: "DESCRIBE dims.car_colors" }, as(VIEWER));
    expect(d.rows.map((r) => r[0])).toEqual(["color_id", "color_name"]);
    const e = await p.registry.call("query", { sql: "EXPLAIN SELECT * FROM dims.cars WHERE car_id = 1" }, as(VIEWER));
    expect(e.rows.length).toBeGreaterThan(0);
  });
});

describe("alert tools", () => {
  it("summarises alerts by rule with totals that match the table", async () => {
    const s = await p.registry.call("alert_summary", { since: "24h", by: "rule" }, as(VIEWER));
    const [row] = await p.lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.alerts");
    expect(s.total).toBe(Number(row!.n));
    expect(s.total).toBeGreaterThan(0);
    expect(s.groups.map((g) => g.key).sort()).toEqual(["high_rpm", "speeding", "wrong_gear"]);
    const byColor = await p.registry.call("alert_summary", { since: "24h", by: "color" }, as(VIEWER));
    expect(byColor.total).toBe(s.total);
    // One rule's alerts by color: the same counts as SQL gives.
    const speeding = await p.registry.call("alert_summary", { since: "24h", by: "color", rule: "speeding" }, as(VIEWER));
    const want = await p.lakehouse.select<{ k: string; n: number }>(
      "SELECT color_name AS k, count(*) AS n FROM telemetry.alerts WHERE rule = 'speeding' GROUP BY color_name ORDER BY n DESC, k",
    );
    expect(speeding.groups.map((g) => [g.key, g.alerts])).toEqual(want.map((r) => [r.k, Number(r.n)]));
    expect(speeding.total).toBe(s.groups.find((g) => g.key === "speeding")!.alerts);
  });

  it("acknowledges an incident once and silences its car", async () => {
    const [incident] = await p.registry.call("latest_incidents", { limit: 1 }, as(VIEWER));
    expect(incident).toBeDefined();
    await expect(p.registry.call("ack_incident", { incidentId: incident!.incidentId }, as(VIEWER))).rejects.toThrow(PermissionError);
    const first = await p.registry.call("ack_incident", { incidentId: incident!.incidentId }, as(OPERATOR));
    expect(first.alreadyAcked).toBe(false);
    const again = await p.registry.call("ack_incident", { incidentId: incident!.incidentId }, as(ADMIN));
    expect(again).toMatchObject({ alreadyAcked: true, ackedBy: OPERATOR });
    const s = await p.registry.call("silence", { incidentId: incident!.incidentId }, as(OPERATOR));
    expect(s).toMatchObject({ kind: "car", value: String(incident!.carId), until: p.now + 3_600_000 });
    const [after] = await p.registry.call("latest_incidents", { limit: 1 }, as(VIEWER));
    expect(after).toMatchObject({ ackedBy: OPERATOR, silenced: true });
    await expect(p.registry.call("ack_incident", { incidentId: "0000000000000000" }, as(OPERATOR))).rejects.toThrow("no incident 0000000000000000");
  });

  it("ranks top cars by alerts", async () => {
    const { cars } = await p.registry.call("top_cars", { since: "24h", limit: 3 }, as(VIEWER));
    expect(cars).toHaveLength(3);
    expect(cars[0]!.alerts).toBeGreaterThanOrEqual(cars[1]!.alerts);
  });
});
