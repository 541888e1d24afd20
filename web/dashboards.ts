import { Hono } from "hono";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { renderSvg } from "../tools/chart-render.js";
import { barSpec, timeSeriesSpec } from "../tools/chart-specs.js";
import { countText, throughputPoints } from "../tools/charts.js";
import { BUILTIN_DASHBOARDS, type BuiltinDashboard, type PanelSource } from "../tools/dashboards.js";
import type { Registry } from "../tools/index.js";
import type { Caller } from "../tools/registry.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { CSP, guard, type WebAccess } from "./access.js";
import { ASSETS } from "./console-routes.js";
import { SseHub } from "./sse.js";

export interface PanelData {
  id: PanelSource;
  title: string;
  kind: "chart" | "table";
  /** A chart: SVG from the same vega-lite specs as the chat's PNGs. */
  svg?: string;
  table?: { columns: string[]; rows: (string | number)[][] };
  /** One line under the panel (totals, or why it is empty). */
  note?: string;
  error?: string;
}

export interface DashboardData {
  id: string;
  title: string;
  at: number;
  panels: PanelData[];
}

const CALLER: Caller = { userId: CONSOLE_USER_ID, chatId: null, via: "console" };
/** A panel refreshing every few seconds is carwatch reading for the page, not an operator's action: not audited. */
const READ = { internal: true } as const;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** One panel's data, from the tool registry as the console's operator: the same tools the chat uses. */
async function panel(registry: Registry, p: BuiltinDashboard["panels"][number]): Promise<PanelData> {
  const base = { id: p.id, title: p.title, kind: p.kind };
  switch (p.id) {
    case "alerts_by_rule": {
      const s = await registry.call("alert_timeseries", { since: "1h", by: "rule" }, CALLER, READ);
      const svg = await renderSvg(timeSeriesSpec({ title: "", points: s.points, keys: s.keys, keyTitle: "rule", yTitle: "alerts per minute", stacked: true }));
      return { ...base, svg, note: `${countText(s.total)} alerts in the last hour` };
    }
    case "alerts_by_color": {
      const s = await registry.call("alert_timeseries", { since: "1h", by: "color" }, CALLER, READ);
      const svg = await renderSvg(
        barSpec({ title: "", bars: s.totals.map((g) => ({ key: g.key, value: g.alerts })), xTitle: "color", yTitle: "alerts", carColors: true }),
      );
      return { ...base, svg, note: s.total ? `${countText(s.total)} alerts, ${s.totals.length} colors` : "no alerts in the last hour" };
    }
    case "top_cars": {
      const t = await registry.call("top_cars", { since: "1h", limit: 10 }, CALLER, READ);
      return {
        ...base,
        table: {
          columns: ["car", "model", "color", "alerts", "incidents", "max km/h", "max rpm"],
          rows: t.cars.map((c) => [c.carId, c.model, c.color, c.alerts, c.incidents, Math.round(c.maxSpeed), c.maxRpm]),
        },
        note: t.cars.length ? undefined : "no alerts in the last hour",
      };
    }
    case "incidents": {
      const list = await registry.call("latest_incidents", { limit: 10 }, CALLER, READ);
      return {
        ...base,
        table: {
          columns: ["incident", "car", "rule", "severity", "peak", "alerts", "started", "status"],
          rows: list.map((i) => [
            i.incidentId,
            i.carId,
            i.rule,
            i.severity,
            Math.round(i.peak),
            i.events,
            hhmm(i.startedAt),
            i.ackedBy !== null ? "acknowledged" : i.silenced ? "silenced" : "open",
          ]),
        },
        note: list.length ? undefined : "no incidents yet",
      };
    }
    case "readings": {
      const w = await registry.call("window_timeseries", { since: "1h" }, CALLER, READ);
      const svg = await renderSvg(timeSeriesSpec({ title: "", points: throughputPoints(w.buckets), keyTitle: "", yTitle: "per minute" }));
      return {
        ...base,
        svg,
        note: w.windows
          ? `${countText(w.events)} readings in ${countText(w.windows)} closed windows`
          : "no window has closed yet (the first closes a minute after start)",
      };
    }
    case "stage_rates": {
      const stages = await registry.call("list_stages", {}, CALLER, READ);
      const svg = await renderSvg(
        barSpec({ title: "", bars: stages.map((s) => ({ key: s.name, value: s.ratePerSec })), xTitle: "stage", yTitle: "events per second" }),
      );
      return { ...base, svg, note: `${stages.filter((s) => s.state === "running").length} of ${stages.length} stages running` };
    }
    case "stages": {
      const stages = await registry.call("list_stages", {}, CALLER, READ);
      return {
        ...base,
        table: {
          columns: ["stage", "state", "ev/s", "queue", "in", "out", "errors", "dead letters", "restarts"],
          rows: stages.map((s) => [
            s.name,
            s.state,
            s.ratePerSec,
            s.queueDepth,
            s.counters.in,
            s.counters.out,
            s.counters.errors,
            s.counters.deadLetters,
            s.restarts,
          ]),
        },
      };
    }
  }
}

/** A dashboard's panels; a panel that fails says why and the others still show. */
export async function dashboardData(registry: Registry, d: BuiltinDashboard, clock: () => number = Date.now): Promise<DashboardData> {
  const panels = await Promise.all(
    d.panels.map((p) => panel(registry, p).catch((err: unknown): PanelData => ({ id: p.id, title: p.title, kind: p.kind, error: errorMessage(err) }))),
  );
  return { id: d.id, title: d.title, at: clock(), panels };
}

export interface DashboardRoutes {
  app: Hono;
  close(): void;
}

/**
 * /dashboards: the list (built-in and Superset's, from list_dashboards) and
 * each built-in dashboard, its panels pushed over SSE every `refreshMs`.
 * Viewers of one dashboard share each refresh.
 */
export function dashboardRoutes(o: { registry: Registry; access: WebAccess; log: Logger; refreshMs?: number }): DashboardRoutes {
  const app = new Hono();
  const hub = new SseHub();
  const refreshMs = o.refreshMs ?? 5000;
  const page = ASSETS.html("dashboards");
  const js = ASSETS.js("common") + ASSETS.js("dashboards");
  const css = ASSETS.css("common") + ASSETS.css("dashboards");
  const cache = new Map<string, { at: number; data: Promise<DashboardData> }>();
  const current = (d: BuiltinDashboard) => {
    const hit = cache.get(d.id);
    if (hit && Date.now() - hit.at < refreshMs - 100) return hit.data;
    const data = dashboardData(o.registry, d);
    cache.set(d.id, { at: Date.now(), data });
    return data;
  };
  const find = (id: string) => BUILTIN_DASHBOARDS.find((d) => d.id === id);

  app.use("/dashboards", guard(o.access));
  app.use("/dashboards/*", guard(o.access));
  const html = () => page;
  app.get("/dashboards", (c) => c.html(html(), 200, { "content-security-policy": CSP, "cache-control": "no-store" }));
  app.get("/dashboards/app.js", (c) => c.body(js, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/dashboards/app.css", (c) => c.body(css, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/dashboards/api/list", async (c) => c.json(await o.registry.call("list_dashboards", {}, CALLER, READ)));
  app.get("/dashboards/api/:id", async (c) => {
    const d = find(c.req.param("id"));
    return d ? c.json(await current(d)) : c.json({ error: "no such dashboard" }, 404);
  });
  app.get("/dashboards/api/:id/events", (c) => {
    const d = find(c.req.param("id"));
    if (!d) return c.json({ error: "no such dashboard" }, 404);
    return hub.stream(c, async (send, closed) => {
      let open = true;
      void closed.then(() => (open = false));
      void (async () => {
        while (open) {
          try {
            await send("panels", await current(d));
          } catch (err) {
            o.log.warn({ err: errorMessage(err), dashboard: d.id }, "dashboard refresh failed");
          }
          await Promise.race([closed, new Promise((r) => setTimeout(r, refreshMs).unref())]);
        }
      })();
    });
  });
  app.get("/dashboards/:id", (c) =>
    find(c.req.param("id")) ? c.html(html(), 200, { "content-security-policy": CSP, "cache-control": "no-store" }) : c.notFound(),
  );
  return { app, close: () => hub.closeAll() };
}
