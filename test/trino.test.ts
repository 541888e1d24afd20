import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../core/log.js";
import type { StageDeps } from "../pipeline/stage.js";
import { STAGES } from "../pipeline/stages/index.js";
import { seededRuleTable } from "../pipeline/stages/rule-runtime.js";
import { TrinoClient } from "../pipeline/stores/trino/client.js";
import { TrinoLakehouse } from "../pipeline/stores/trino/lakehouse.js";
import { Supervisor } from "../pipeline/supervisor.js";
import { MemoryTransport } from "../pipeline/transport/memory.js";
import { OpsState } from "../state/ops-state.js";
import { StateStore } from "../state/store.js";
import { createRegistry } from "../tools/index.js";
import { RoleBook } from "../tools/roles.js";
import { expectedRows } from "./support/expected.js";
import { TEST_SETTINGS } from "./support/pipeline.js";
import { describeTrino, startTrino, type TrinoServer } from "./support/trino.js";

const START = Date.UTC(2026, 10, 28, 12, 0, 0);

describeTrino("Iceberg lakehouse through a real Trino", () => {
  let trino: TrinoServer;
  let lake: TrinoLakehouse;
  const dir = mkdtempSync(join(tmpdir(), "carwatch-trino-state-"));

  /** The tool registry over the Trino lakehouse, with its own state file and one admin (user 1). */
  /** The tool registry over the Trino lakehouse, with a state file of its own (closed by the test) and one admin (user 1). */
  function registryOn(stateFile: string, clock: () => number) {
    const state = new StateStore(join(dir, stateFile));
    const registry = createRegistry({
      supervisor: new Supervisor([], {
        lakehouse: lake,
        state,
        transport: new MemoryTransport(),
        log: silentLogger,
        events: new EventEmitter(),
        settings: TEST_SETTINGS,
      }),
      lakehouse: lake,
      ops: new OpsState(state),
      roles: new RoleBook({ admins: [1], operators: [], viewers: [] }),
      rules: seededRuleTable({ state, settings: TEST_SETTINGS }),
      clock,
      log: silentLogger,
    });
    return { registry, state };
  }
  const n = async (sql: string) => Number(Object.values((await lake.select(sql))[0]!)[0]);

  beforeAll(async () => {
    trino = await startTrino();
    lake = new TrinoLakehouse({
      url: trino.url,
      user: "carwatch",
      catalog: "iceberg",
      queryUser: "reader",
      flushMs: 200,
      maxRowsPerStatement: 2000,
      retention: "0s",
    });
    await lake.init();
  }, 900_000);
  afterAll(async () => {
    await lake?.close();
    await trino?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a pipeline run writes Iceberg tables with exact counts", async () => {
    const state = new StateStore(join(dir, "state.db"));
    const transport = new MemoryTransport();
    const deps: StageDeps = { lakehouse: lake, state, transport, log: silentLogger, events: new EventEmitter(), settings: TEST_SETTINGS };
    const supervisor = new Supervisor(STAGES, deps);
    await supervisor.start("seed");
    // The stage's own error, should it fail, says more than a count of 0 rows.
    expect(await supervisor.waitFor("seed")).toMatchObject({ state: "succeeded", lastError: null });
    for (const s of ["aggregate", "alert", "enrich"]) await supervisor.start(s);
    const drive = { n: 1500, rate: 10, seed: 42, start: START };
    await supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await supervisor.waitFor("generator");
    await transport.whenIdle();
    const crashed = supervisor.list().filter((st) => st.restarts > 0 || st.lastError !== null);
    await supervisor.stopAll();
    state.close();
    expect(crashed.map((st) => `${st.name}: ${st.lastError}`)).toEqual([]);

    const want = expectedRows(drive);
    expect(await n("SELECT count(*) FROM dims.cars")).toBe(20);
    expect(await n("SELECT count(*) FROM telemetry.cars_raw")).toBe(want.valid);
    expect(await n("SELECT count(*) FROM telemetry.cars_enriched")).toBe(want.valid);
    expect(await n("SELECT count(*) FROM telemetry.cars_enriched WHERE is_alert")).toBe(want.alertEvents);
    const rules = Object.fromEntries(
      (await lake.select<{ rule: string; c: number }>("SELECT rule, count(*) AS c FROM telemetry.alerts GROUP BY rule")).map((r) => [r.rule, Number(r.c)]),
    );
    expect(rules).toEqual(want.rules);
    expect(await n("SELECT count(*) FROM telemetry.incidents")).toBe(want.incidents);
    const dead = Object.fromEntries(
      (await lake.select<{ reason: string; c: number }>("SELECT reason, count(*) AS c FROM telemetry.dead_letters GROUP BY reason")).map((r) => [
        r.reason,
        Number(r.c),
      ]),
    );
    expect(dead).toEqual(want.dead);
    const windows = await lake.select<{ window_start: string; events: number }>(
      "SELECT window_start, events FROM telemetry.alert_windows ORDER BY window_start",
    );
    expect(windows.map((w) => [lake.toMillis(w.window_start), Number(w.events)])).toEqual([...want.windows.entries()]);
  }, 600_000);

  it("keeps the tables in the PostgreSQL catalog and every data file in the S3 bucket", async () => {
    expect(await trino.catalogTables()).toEqual([
      "dims.car_colors",
      "dims.car_models",
      "dims.cars",
      "telemetry.alert_windows",
      "telemetry.alerts",
      "telemetry.cars_enriched",
      "telemetry.cars_raw",
      "telemetry.dead_letters",
      "telemetry.incidents",
      "telemetry.rule_state",
    ]);
    const files = await lake.select<{ file_path: string }>('SELECT file_path FROM telemetry."cars_raw$files"');
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !f.file_path.startsWith("s3://carwatch/warehouse/telemetry/cars_raw-"))).toEqual([]);
  }, 60_000);

  it("the charts count the drive's rows in Trino's SQL, per bucket, through the query process", async () => {
    const { registry, state } = registryOn("charts.db", () => START + 30 * 60_000);
    const caller = { userId: 1, chatId: 1, via: "console" as const };
    const tally = (keys: string[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
    const minute = (t: unknown) => Math.floor(lake.toMillis(t) / 60_000) * 60_000;

    const speeds = (await lake.select<{ speed: number }>("SELECT speed FROM telemetry.cars_enriched")).map((r) => Number(r.speed));
    const d = await registry.call("speed_distribution", { since: "1h" }, caller);
    expect(speeds.length).toBeGreaterThan(1000);
    expect(d.readings).toBe(speeds.length);
    expect(d.overLimit).toBe(speeds.filter((v) => v > 120).length);
    expect(new Map(d.bins.map((b) => [String(b.from), b.count]))).toEqual(tally(speeds.map((v) => String(Math.floor(v / 10) * 10))));

    const alerts = await lake.select<{ event_time: string; rule: string; car_id: number }>("SELECT event_time, rule, car_id FROM telemetry.alerts");
    const s = await registry.call("alert_timeseries", { since: "1h", by: "rule" }, caller);
    expect(alerts.length).toBeGreaterThan(0);
    expect(s.total).toBe(alerts.length);
    expect(new Map(s.points.filter((x) => x.value > 0).map((x) => [`${x.t}|${x.key}`, x.value]))).toEqual(
      tally(alerts.map((a) => `${minute(a.event_time)}|${a.rule}`)),
    );

    const perCar = [...tally(alerts.map((a) => String(a.car_id))).entries()].sort((a, b) => b[1] - a[1] || Number(a[0]) - Number(b[0]));
    const top = await registry.call("top_cars", { since: "1h", limit: 3 }, caller);
    expect(top.cars.map((c) => [String(c.carId), c.alerts])).toEqual(perCar.slice(0, 3));

    const windows = await lake.select<{ window_start: string; events: number }>("SELECT window_start, events FROM telemetry.alert_windows");
    expect(windows.length).toBeGreaterThan(0);
    const w = await registry.call("window_timeseries", { since: "1h" }, caller);
    expect(w.windows).toBe(windows.length);
    expect(new Map(w.buckets.map((b) => [b.start, b.events]))).toEqual(new Map(windows.map((x) => [minute(x.window_start), Number(x.events)])));
    state.close();
  }, 120_000);

  it("the same batch written twice is there once, and nasty strings round-trip", async () => {
    const nasty = [
      "O'Brien's \"car\"",
      "Zürich – 東京 – Ünïcödé",
      "🚗💨 👍🏽",
      "back\\slash",
      "''",
      "tab\there",
      "line\nbreak",
      "",
      "ignore previous instructions; DROP TABLE x; --",
    ];
    const rows = nasty.map((payload, i) => ({
      id: `nasty-${i}`,
      received_at: START + i * 1234,
      stage: "test",
      reason: "invalid_value",
      detail: payload,
      payload,
    }));
    await lake.write([{ table: "dead_letters", rows }]);
    await lake.write([{ table: "dead_letters", rows }]);
    const back = await lake.select<{ id: string; payload: string; detail: string; received_at: string }>(
      "SELECT id, payload, detail, received_at FROM telemetry.dead_letters WHERE id LIKE 'nasty-%' ORDER BY id",
    );
    expect(back.map((r) => r.payload)).toEqual(nasty);
    expect(back.map((r) => r.detail)).toEqual(nasty);
    expect(back.map((r) => lake.toMillis(r.received_at))).toEqual(rows.map((r) => r.received_at));
    const fresh = await lake.insertNew("dead_letters", [...rows.slice(0, 2), { ...rows[0]!, id: "nasty-new" }]);
    expect(fresh.map((r) => r.id)).toEqual(["nasty-new"]);
    expect(await n("SELECT count(*) FROM telemetry.dead_letters WHERE id LIKE 'nasty-%'")).toBe(nasty.length + 1);
  }, 120_000);

  it("after many small commits, compaction leaves few files and snapshots and the same answers", async () => {
    for (let i = 0; i < 12; i++) {
      await lake.write([{ table: "car_colors", rows: [{ color_id: 100 + i, color_name: `Color ${i}` }] }]);
    }
    const answer = () => lake.select("SELECT count(*) AS c, sum(color_id) AS s, min(color_name) AS lo, max(color_name) AS hi FROM dims.car_colors");
    const before = await lake.tableStats("car_colors");
    const same = await answer();
    expect(before.snapshots).toBeGreaterThanOrEqual(13);
    expect(before.files).toBeGreaterThanOrEqual(12);
    const report = await lake.maintain("car_colors");
    expect(report.after.files).toBe(1);
    expect(report.after.snapshots).toBe(1);
    expect(report.after.rows).toBe(report.before.rows);
    expect(await answer()).toEqual(same);
  }, 300_000);

  it("refuses writes in every disguise, through the guard and through Trino's own access control", async () => {
    const { registry, state } = registryOn("guard.db", Date.now);
    // What /query's usage text names.
    expect(registry.sqlDialect).toBe("Trino");
    const before = await n("SELECT count(*) FROM telemetry.alerts");
    const disguises = [
      "CREATE TABLE telemetry.stolen AS SELECT * FROM telemetry.alerts",
      "WITH a AS (SELECT 1 AS x) INSERT INTO telemetry.alerts SELECT * FROM telemetry.alerts",
      "EXPLAIN ANALYZE INSERT INTO telemetry.alerts SELECT * FROM telemetry.alerts",
      "SELECT 1 /* harmless */; DELETE FROM telemetry.alerts",
      "DELETE FROM telemetry.alerts -- SELECT",
      "SELECT 1; DROP TABLE telemetry.alerts",
    ];
    for (const sql of disguises)
      await expect(registry.call("query", { sql }, { userId: 1, chatId: 1, via: "console" })).rejects.toThrow(/refused|does not parse/);
    // The second wall: the query user cannot write even when asked directly.
    const reader = new TrinoClient({ url: trino.url, user: "reader", catalog: "iceberg" });
    await expect(reader.run("DELETE FROM telemetry.alerts")).rejects.toThrow(/PERMISSION_DENIED|Access Denied/);
    const allowed = await registry.call("query", { sql: "SELECT count(*) AS c FROM telemetry.alerts" }, { userId: 1, chatId: 1, via: "console" });
    expect(allowed.rows).toEqual([[before]]);
    expect(await n("SELECT count(*) FROM telemetry.alerts")).toBe(before);
    state.close();
  }, 120_000);
});
