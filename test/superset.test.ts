import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { silentLogger } from "../core/log.js";
import { seededRuleTable } from "../pipeline/stages/rule-runtime.js";
import { TrinoLakehouse } from "../pipeline/stores/trino/lakehouse.js";
import { Supervisor } from "../pipeline/supervisor.js";
import { MemoryTransport } from "../pipeline/transport/memory.js";
import { OpsState } from "../state/ops-state.js";
import { StateStore } from "../state/store.js";
import type { DashboardsConfig } from "../tools/dashboards.js";
import { ConfirmationRequired, PermissionError } from "../tools/errors.js";
import { createRegistry, type Registry } from "../tools/index.js";
import { RoleBook } from "../tools/roles.js";
import { rison, SupersetClient, SupersetError } from "../tools/superset-client.js";
import { FLEET_DASHBOARD, trinoSqlalchemyUri } from "../tools/superset-publish.js";
import { TEST_SETTINGS } from "./support/pipeline.js";
import { describeWithService } from "./support/services.js";
import { type SupersetServer, startSuperset, supersetUnavailable } from "./support/superset.js";
import { startTrino, type TrinoServer, trinoUnavailable } from "./support/trino.js";

const ADMIN = { userId: 1, chatId: 1, via: "console" as const };
const VIEWER = { userId: 2, chatId: 2, via: "console" as const };
const CHARTS = ["Alerts per minute by rule", "Alerts by car color", "Top cars", "Latest incidents", "Readings and alert readings per minute"];
const DATASETS = ["telemetry.alerts", "telemetry.incidents", "telemetry.alert_windows"];

/** A loopback port nothing listens on: a Superset that is down. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Cars 1, 2, 3 with 3, 2 and 1 alerts in the last ten minutes (Superset's charts read the last hour of its clock). */
function alertRows(now: number) {
  const cars = [
    { car_id: 1, model_name: "Model A", color_name: "Red", n: 3 },
    { car_id: 2, model_name: "Model B", color_name: "Blue", n: 2 },
    { car_id: 3, model_name: "Model C", color_name: "Red", n: 1 },
  ];
  const rules = ["speeding", "high_rpm", "wrong_gear"];
  return cars.flatMap(({ n, ...car }) =>
    Array.from({ length: n }, (_, i) => ({
      event_id: randomUUID(),
      rule: rules[i]!,
      event_time: now - (i + 1) * 60_000,
      ...car,
      value: 150,
      threshold: 120,
      speed: 150,
      rpm: 3000,
      gear: 5,
      incident_id: randomUUID(),
      rule_id: null,
      rule_version: null,
      severity: "medium",
    })),
  );
}

describeWithService(
  "Superset, for real: list_dashboards and publish_dashboards",
  supersetUnavailable() ?? trinoUnavailable(),
  "Install python3 (3.10–3.12) for Superset, and a JDK 24+ and Maven for Trino.",
  () => {
    let superset: SupersetServer;
    let trino: TrinoServer;
    let lake: TrinoLakehouse;
    let state: StateStore;
    const dir = mkdtempSync(join(tmpdir(), "carwatch-superset-state-"));

    /** The tool registry with one admin (1) and one viewer (2), over Superset as `dashboards` says. */
    function registry(dashboards: Partial<DashboardsConfig> = {}): Registry {
      return createRegistry({
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
        roles: new RoleBook({ admins: [1], operators: [], viewers: [2] }),
        rules: seededRuleTable({ state, settings: TEST_SETTINGS }),
        clock: Date.now,
        log: silentLogger,
        dashboards: {
          baseUrl: () => null,
          superset: { url: superset.url, user: superset.user, password: superset.password },
          lakehouseUri: trinoSqlalchemyUri(trino.url, "reader", "iceberg"),
          ...dashboards,
        },
      });
    }
    const api = () => SupersetClient.login({ url: superset.url, user: superset.user, password: superset.password });
    /** How many of a kind Superset holds, by its own count. */
    const count = async (resource: string) =>
      (await (await api()).get(`/api/v1/${resource}/?q=${encodeURIComponent(rison({ page_size: 1 }))}`, z.object({ count: z.number() }))).count;
    const chartData = async (id: number) =>
      (await (await api()).get(`/api/v1/chart/${id}/data/`, z.object({ result: z.array(z.object({ data: z.array(z.record(z.string(), z.unknown())) })) })))
        .result[0]!.data;

    beforeAll(async () => {
      // Both are slow to start (Superset initialises its metadata, Trino its catalog): side by side.
      [superset, trino] = await Promise.all([startSuperset(), startTrino()]);
      lake = new TrinoLakehouse({
        url: trino.url,
        user: "carwatch",
        catalog: "iceberg",
        queryUser: "reader",
        flushMs: 0,
        maxRowsPerStatement: 2000,
        retention: "7d",
      });
      await lake.init();
      await lake.write([{ table: "alerts", rows: alertRows(Date.now()) }]);
      state = new StateStore(join(dir, "state.db"));
    }, 900_000);
    afterAll(async () => {
      state?.close();
      await lake?.close();
      await Promise.all([superset?.stop(), trino?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    });

    it("list_dashboards logs in and lists a fresh Superset's dashboards: none", async () => {
      const r = await registry().call("list_dashboards", {}, VIEWER);
      expect(r.superset).toEqual({ configured: true, ok: true, dashboards: 0 });
      expect(r.dashboards.map((d) => d.id)).toEqual(["alerts", "pipeline"]);
    });

    it("a refused login reaches the user word for word, not retriable", async () => {
      const wrong = { superset: { url: superset.url, user: superset.user, password: "not-the-password" } };
      const r = await registry(wrong).call("list_dashboards", {}, VIEWER);
      expect(r.superset).toEqual({
        configured: true,
        ok: false,
        dashboards: 0,
        error: `Superset at ${superset.url} refused the login of user "admin": check SUPERSET_USER and SUPERSET_PASSWORD`,
        retriable: false,
      });
      expect(r.dashboards.map((d) => d.id)).toEqual(["alerts", "pipeline"]);
      const err = await registry(wrong)
        .call("publish_dashboards", {}, ADMIN, { confirmed: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SupersetError);
      expect(err).toMatchObject({ status: 401, retriable: false, message: r.superset.error });
    });

    it("a Superset that is down is reported as such, retriable", async () => {
      const url = `http://127.0.0.1:${await deadPort()}`;
      const down = { superset: { url, user: "admin", password: "x" } };
      const r = await registry(down).call("list_dashboards", {}, VIEWER);
      expect(r.superset).toEqual({ configured: true, ok: false, dashboards: 0, error: `Superset at ${url} is unreachable (ECONNREFUSED)`, retriable: true });
      const err = await registry(down)
        .call("publish_dashboards", {}, ADMIN, { confirmed: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SupersetError);
      expect(err).toMatchObject({ retriable: true, message: r.superset.error });
    });

    it("publish_dashboards is for admins, confirmed, and needs the lakehouse behind Trino", async () => {
      await expect(registry().call("publish_dashboards", {}, VIEWER, { confirmed: true })).rejects.toThrow(PermissionError);
      await expect(registry().call("publish_dashboards", {}, ADMIN)).rejects.toThrow(ConfirmationRequired);
      await expect(registry({ lakehouseUri: null }).call("publish_dashboards", {}, ADMIN, { confirmed: true })).rejects.toThrow(
        "publish_dashboards needs STORE=trino: Superset reads the lakehouse through Trino",
      );
      await expect(registry({ superset: null }).call("publish_dashboards", {}, ADMIN, { confirmed: true })).rejects.toThrow(
        "publish_dashboards needs a Superset: set SUPERSET_URL, SUPERSET_USER and SUPERSET_PASSWORD",
      );
      expect(await count("dashboard")).toBe(0);
      expect(await count("database")).toBe(0);
    });

    it("creates the Fleet alerts dashboard, then updates it in place: one dashboard, one database, 3 datasets, 5 charts", async () => {
      const first = await registry().call("publish_dashboards", {}, ADMIN, { confirmed: true });
      expect(first.url).toBe(`${superset.url}/superset/dashboard/${FLEET_DASHBOARD.slug}/`);
      expect(first.dashboard.created).toBe(true);
      expect(first.database.created).toBe(true);
      expect(first.datasets.map((d) => [d.table, d.created])).toEqual(DATASETS.map((t) => [t, true]));
      expect(first.charts.map((c) => [c.title, c.created])).toEqual(CHARTS.map((t) => [t, true]));

      const second = await registry().call("publish_dashboards", {}, ADMIN, { confirmed: true });
      expect(second).toEqual({
        ...first,
        dashboard: { ...first.dashboard, created: false },
        database: { ...first.database, created: false },
        datasets: first.datasets.map((d) => ({ ...d, created: false })),
        charts: first.charts.map((c) => ({ ...c, created: false })),
      });

      expect(await count("dashboard")).toBe(1);
      expect(await count("database")).toBe(1);
      expect(await count("dataset")).toBe(DATASETS.length);
      expect(await count("chart")).toBe(CHARTS.length);
      const onDashboard = await (await api()).get(
        `/api/v1/dashboard/${first.dashboard.id}/charts`,
        z.object({ result: z.array(z.object({ id: z.number(), slice_name: z.string() })) }),
      );
      expect(onDashboard.result.map((c) => c.slice_name).sort()).toEqual([...CHARTS].sort());

      const listed = await registry().call("list_dashboards", {}, VIEWER);
      expect(listed.superset).toEqual({ configured: true, ok: true, dashboards: 1 });
      expect(listed.dashboards.filter((d) => d.source === "superset")).toEqual([
        { id: `superset:${first.dashboard.id}`, title: "Fleet alerts", description: "Superset (published)", url: first.url, source: "superset" },
      ]);
    });

    it("its charts read the lakehouse through Trino: top cars and alerts per minute match the rows written", async () => {
      const { charts } = await registry().call("publish_dashboards", {}, ADMIN, { confirmed: true });
      const id = (title: string) => charts.find((c) => c.title === title)!.id;
      expect(await chartData(id("Top cars"))).toEqual([
        { car_id: 1, model_name: "Model A", color_name: "Red", count: 3 },
        { car_id: 2, model_name: "Model B", color_name: "Blue", count: 2 },
        { car_id: 3, model_name: "Model C", color_name: "Red", count: 1 },
      ]);
      const perMinute = await chartData(id("Alerts per minute by rule"));
      const byRule: Record<string, number> = {};
      for (const r of perMinute) byRule[r.rule as string] = (byRule[r.rule as string] ?? 0) + Number(r.count);
      expect(byRule).toEqual({ speeding: 3, high_rpm: 2, wrong_gear: 1 });
      expect(await chartData(id("Alerts by car color"))).toEqual([
        { color_name: "Red", count: 4 },
        { color_name: "Blue", count: 2 },
      ]);
    });
  },
);
