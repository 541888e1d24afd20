import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChartStore } from "../tools/chart-store.js";
import { BUILTIN_DASHBOARDS, type DashboardsConfig } from "../tools/dashboards.js";
import type { Registry } from "../tools/index.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { dashboardData } from "../web/dashboards.js";
import { type BotPipeline, botPipeline, generate, registryFor, startConsumers, VIEWER } from "./support/bot-pipeline.js";

/** A tiny Superset: login for a token, the dashboard list only with it. */
class FakeSuperset {
  server: Server | null = null;
  logins: unknown[] = [];
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.method === "POST" && req.url === "/api/v1/security/login") {
          const creds = JSON.parse(body) as { username: string; password: string };
          this.logins.push(creds);
          if (creds.password !== "pw") return void res.writeHead(401, { "content-type": "application/json" }).end('{"message":"Not authorized"}');
          return void res.writeHead(200, { "content-type": "application/json" }).end('{"access_token":"tok-1"}');
        }
        if (req.method === "GET" && req.url?.startsWith("/api/v1/dashboard/")) {
          if (req.headers.authorization !== "Bearer tok-1") return void res.writeHead(401).end();
          return void res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              count: 2,
              result: [
                { id: 7, dashboard_title: "Fleet KPIs", url: "/superset/dashboard/7/", status: "published" },
                { id: 9, dashboard_title: "Drivers", url: "/superset/dashboard/drivers/" },
              ],
            }),
          );
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server!.close(() => r()));
  }
}

let p: BotPipeline;
let superset: FakeSuperset;
let supersetUrl: string;
const registryWith = (dashboards: DashboardsConfig): Registry => registryFor(p, { charts: new ChartStore(), dashboards });
const asViewer = { userId: VIEWER, chatId: VIEWER, via: "telegram" as const };

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 3000);
  superset = new FakeSuperset();
  supersetUrl = await superset.start();
});
afterAll(async () => {
  await superset?.stop();
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

  it("adds Superset's dashboards after logging in", async () => {
    const r = await registryWith({ baseUrl: () => null, superset: { url: `${supersetUrl}/`, user: "admin", password: "pw" } }).call(
      "list_dashboards",
      {},
      asViewer,
    );
    expect(r.superset).toEqual({ configured: true, ok: true, dashboards: 2 });
    expect(r.dashboards.filter((d) => d.source === "superset")).toEqual([
      { id: "superset:7", title: "Fleet KPIs", description: "Superset (published)", url: `${supersetUrl}/superset/dashboard/7/`, source: "superset" },
      { id: "superset:9", title: "Drivers", description: "Superset", url: `${supersetUrl}/superset/dashboard/drivers/`, source: "superset" },
    ]);
    expect(superset.logins.at(-1)).toEqual({ username: "admin", password: "pw", provider: "db", refresh: false });
  });

  it("reports a refused login or an unreachable Superset without failing", async () => {
    const refused = await registryWith({ baseUrl: () => null, superset: { url: supersetUrl, user: "admin", password: "bad" } }).call(
      "list_dashboards",
      {},
      asViewer,
    );
    expect(refused.superset).toMatchObject({ configured: true, ok: false, error: expect.stringContaining("login refused: HTTP 401") });
    expect(refused.dashboards).toHaveLength(2);
    const down = await registryWith({ baseUrl: () => null, superset: { url: "http://127.0.0.1:9" }, timeoutMs: 2000 }).call("list_dashboards", {}, asViewer);
    expect(down.superset).toMatchObject({ configured: true, ok: false, error: expect.stringContaining("unreachable") });
  });
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
