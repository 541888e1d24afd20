import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChartStore } from "../tools/chart-store.js";
import { BUILTIN_DASHBOARDS, type DashboardsConfig } from "../tools/dashboards.js";
import type { Registry } from "../tools/index.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { dashboardData } from "../web/dashboards.js";
import { type BotPipeline, botPipeline, generate, registryFor, startConsumers, VIEWER } from "./support/bot-pipeline.js";

let p: BotPipeline;
const registryWith = (dashboards: DashboardsConfig): Registry => registryFor(p, { charts: new ChartStore(), dashboards });
const asViewer = { userId: VIEWER, chatId: VIEWER, via: "telegram" as const };

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 3000);
});
afterAll(async () => {
  await p?.close();
});

describe("list_dashboards", () => {
  it("lists the built-in dashboards with their links", async () => {
    const r = await registryWith({ baseUrl: () => "http://127.0.0.1:8080" }).call("list_dashboards", {}, asViewer);
    expect(r.dashboards.map((d) => [d.id, d.url])).toEqual([
      ["alerts", "http://127.0.0.1:8080/dashboards/alerts"],
      ["pipeline", "http://127.0.0.1:8080/dashboards/pipeline"],
    ]);
    expect(r.superset).toEqual({ configured: false, ok: false, dashboards: 0 });
  });
  // Superset's own dashboards, a refused login and a Superset that is down: test/superset.test.ts, against a real one.
});

describe("the data behind the charts", () => {
  it("alert_timeseries: one-minute buckets, zero-filled per rule, adding up to the alerts table", async () => {
    const r = await registryWith({ baseUrl: () => null }).call("alert_timeseries", { since: "1h" }, asViewer);
    expect(r.bucketMs).toBe(60_000);
    expect(r.keys).toEqual(["speeding", "high_rpm", "wrong_gear"]);
    expect(r.points.length).toBe(61 * 3);
    const [{ n }] = p.lakehouse.selectSync<{ n: number }>("SELECT count(*) AS n FROM telemetry.alerts") as [{ n: number }];
    expect(r.points.reduce((a, x) => a + x.value, 0)).toBe(n);
    expect(r.total).toBe(n);
    const byColor = await registryWith({ baseUrl: () => null }).call("alert_timeseries", { since: "6h", by: "color" }, asViewer);
    expect(byColor.bucketMs).toBe(5 * 60_000);
  });

  it("window_timeseries and speed_distribution match the tables", async () => {
    const reg = registryWith({ baseUrl: () => null });
    const w = await reg.call("window_timeseries", {}, asViewer);
    const [{ n }] = p.lakehouse.selectSync<{ n: number }>("SELECT count(*) AS n FROM telemetry.alert_windows") as [{ n: number }];
    expect(w.windows).toBe(n);
    expect(w.buckets.map((b) => b.windows)).toEqual(Array(n).fill(1));
    const d = await reg.call("speed_distribution", {}, asViewer);
    const [{ readings, over }] = p.lakehouse.selectSync<{ readings: number; over: number }>(
      "SELECT count(*) AS readings, sum(speed > 120) AS over FROM telemetry.cars_enriched",
    ) as [{ readings: number; over: number }];
    expect(d.readings).toBe(readings);
    expect(d.overLimit).toBe(over);
    expect(d.bins.reduce((a, b) => a + b.count, 0)).toBe(readings);
  });

  it("render_chart returns a caption and an id, never the picture", async () => {
    const charts = new ChartStore();
    const reg = registryFor(p, { charts });
    const r = await reg.call("render_chart", { chart: "readings" }, asViewer);
    expect(JSON.stringify(r).length).toBeLessThan(300);
    expect(r.caption).toMatch(/^Readings per minute, last 1h: [\d,]+ in \d+ closed windows\.$/);
    const stored = charts.take(r.chartId)!;
    expect(stored.chatId).toBe(VIEWER);
    expect(stored.png.subarray(1, 4).toString()).toBe("PNG");
    expect(charts.takeUndelivered(VIEWER)).toEqual([]);
    await expect(registryWith({ baseUrl: () => null }).call("render_chart", { chart: "pie" }, asViewer)).rejects.toThrow(/chart/);
  });
});

describe("built-in dashboards", () => {
  it("every panel has data: charts as SVG, tables with rows", async () => {
    const reg = registryWith({ baseUrl: () => null });
    for (const d of BUILTIN_DASHBOARDS) {
      const data = await dashboardData(reg, d);
      expect(data.panels.map((x) => x.id)).toEqual(d.panels.map((x) => x.id));
      for (const panel of data.panels) {
        expect(panel.error, `${d.id}/${panel.id}`).toBeUndefined();
        if (panel.kind === "chart") expect(panel.svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
        else expect(panel.table!.rows.length, `${d.id}/${panel.id}`).toBeGreaterThan(0);
      }
    }
    // Read as the console's operator, as internal reads: a page refreshing writes nothing to the audit log.
    expect(p.ops.recentAudit(5, CONSOLE_USER_ID)).toEqual([]);
  });
});
