import { z } from "zod";
import { errorMessage } from "../core/errors.js";
import { defineTool } from "./registry.js";

/** What list_dashboards needs from the process: the HTTP server's address and, optionally, a Superset. */
export interface DashboardsConfig {
  /** The console's base URL once the server listens (null: no HTTP server in this process). */
  baseUrl(): string | null;
  superset?: { url: string; user?: string; password?: string } | null;
  /** For tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export type PanelSource = "alerts_by_rule" | "alerts_by_color" | "top_cars" | "incidents" | "readings" | "stage_rates" | "stages";

export interface BuiltinDashboard {
  id: string;
  title: string;
  description: string;
  panels: { id: PanelSource; title: string; kind: "chart" | "table" }[];
}

/** The built-in dashboards (web/dashboards.ts draws them from the tools, refreshing live). */
export const BUILTIN_DASHBOARDS: readonly BuiltinDashboard[] = [
  {
    id: "alerts",
    title: "Fleet alerts",
    description: "Alerts per minute by rule over the last hour, by color, top cars, latest incidents",
    panels: [
      { id: "alerts_by_rule", title: "Alerts per minute by rule, last hour", kind: "chart" },
      { id: "alerts_by_color", title: "Alerts by car color, last hour", kind: "chart" },
      { id: "top_cars", title: "Top cars, last hour", kind: "table" },
      { id: "incidents", title: "Latest incidents", kind: "table" },
    ],
  },
  {
    id: "pipeline",
    title: "Pipeline",
    description: "Readings per minute, each stage's rate, and the stages' states",
    panels: [
      { id: "readings", title: "Readings per minute, last hour", kind: "chart" },
      { id: "stage_rates", title: "Events per second by stage", kind: "chart" },
      { id: "stages", title: "Stage states", kind: "table" },
    ],
  },
];

export interface DashboardLink {
  id: string;
  title: string;
  description: string;
  url: string;
  source: "builtin" | "superset";
}

export interface SupersetStatus {
  configured: boolean;
  ok: boolean;
  dashboards: number;
  error?: string;
}

/** Superset's REST API: login for a bearer token, then the dashboard list. Never throws: failures are reported. */
export async function supersetDashboards(cfg: DashboardsConfig): Promise<{ status: SupersetStatus; links: DashboardLink[] }> {
  const s = cfg.superset;
  if (!s?.url) return { status: { configured: false, ok: false, dashboards: 0 }, links: [] };
  const f = cfg.fetch ?? fetch;
  const base = s.url.replace(/\/+$/, "");
  const timeout = () => AbortSignal.timeout(cfg.timeoutMs ?? 5000);
  try {
    const login = await f(`${base}/api/v1/security/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: s.user ?? "", password: s.password ?? "", provider: "db", refresh: false }),
      signal: timeout(),
    });
    if (!login.ok) throw new Error(`login refused: HTTP ${login.status}`);
    const token = ((await login.json()) as { access_token?: string }).access_token;
    if (!token) throw new Error("login answered without an access_token");
    const list = await f(`${base}/api/v1/dashboard/?q=${encodeURIComponent("(page_size:100)")}`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      signal: timeout(),
    });
    if (!list.ok) throw new Error(`dashboard list refused: HTTP ${list.status}`);
    const body = (await list.json()) as { result?: { id: number; dashboard_title?: string; url?: string; status?: string }[] };
    const links = (body.result ?? []).map((d) => ({
      id: `superset:${d.id}`,
      title: d.dashboard_title || `Dashboard ${d.id}`,
      description: `Superset${d.status ? ` (${d.status})` : ""}`,
      url: new URL(d.url ?? `/superset/dashboard/${d.id}/`, `${base}/`).toString(),
      source: "superset" as const,
    }));
    return { status: { configured: true, ok: true, dashboards: links.length }, links };
  } catch (err) {
    return { status: { configured: true, ok: false, dashboards: 0, error: `Superset at ${base} is unreachable or refused: ${errorMessage(err)}` }, links: [] };
  }
}

export const listDashboards = defineTool({
  name: "list_dashboards",
  description:
    "Lists the dashboards with their links: carwatch's built-in ones (alerts over time, by color, top cars, incidents, pipeline throughput and stages, refreshing live), plus Superset's when SUPERSET_URL is set (an unreachable Superset is reported, not an error).",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: async ({ ctx }) => {
    const cfg = ctx.dashboards;
    const base = cfg?.baseUrl() ?? null;
    const builtin: DashboardLink[] = BUILTIN_DASHBOARDS.map((d) => ({
      id: d.id,
      title: d.title,
      description: d.description,
      url: `${base ?? ""}/dashboards/${d.id}`,
      source: "builtin",
    }));
    const superset = cfg ? await supersetDashboards(cfg) : { status: { configured: false, ok: false, dashboards: 0 }, links: [] };
    return { served: base !== null, dashboards: [...builtin, ...superset.links], superset: superset.status };
  },
});

export const DASHBOARD_TOOLS = [listDashboards] as const;
