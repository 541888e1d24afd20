import { z } from "zod";
import { CarwatchError, errorMessage, InputError } from "../core/errors.js";
import { defineTool } from "./registry.js";
import { SupersetClient, type SupersetConnection } from "./superset-client.js";
import { FLEET_CHARTS, FLEET_DASHBOARD, FLEET_DATASETS, publishFleetDashboard } from "./superset-publish.js";

/** What list_dashboards and publish_dashboards need from the process: the HTTP server's address and, optionally, a Superset. */
export interface DashboardsConfig {
  /** The console's base URL once the server listens (null: no HTTP server in this process). */
  baseUrl(): string | null;
  superset?: SupersetConnection | null;
  /** Superset's SQLAlchemy URI for the lakehouse, for publish_dashboards (trinoSqlalchemyUri; null when STORE=sqlite). */
  lakehouseUri?: string | null;
  /** Per request to Superset when listing (publishing waits longer: Superset reads Trino's tables then). */
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
  /** What went wrong, safe to show; retriable says whether trying later may help (down) or not (a refused login). */
  error?: string;
  retriable?: boolean;
}

const DashboardRow = z.object({
  id: z.number().int(),
  dashboard_title: z.string().nullish(),
  url: z.string().nullish(),
  status: z.string().nullish(),
});

/** Superset's dashboards, listed as SUPERSET_USER. Never throws: a refusal or an unreachable Superset is reported in the status. */
export async function supersetDashboards(cfg: DashboardsConfig): Promise<{ status: SupersetStatus; links: DashboardLink[] }> {
  const s = cfg.superset;
  if (!s?.url) return { status: { configured: false, ok: false, dashboards: 0 }, links: [] };
  try {
    const api = await SupersetClient.login(s, cfg.timeoutMs);
    const links = (await api.list("dashboard", DashboardRow)).map((d) => ({
      id: `superset:${d.id}`,
      title: d.dashboard_title || `Dashboard ${d.id}`,
      description: `Superset${d.status ? ` (${d.status})` : ""}`,
      url: new URL(d.url ?? `/superset/dashboard/${d.id}/`, `${api.base}/`).toString(),
      source: "superset" as const,
    }));
    return { status: { configured: true, ok: true, dashboards: links.length }, links };
  } catch (err) {
    // Anything but a CarwatchError is a bug of carwatch's own: trying again will not help.
    const retriable = err instanceof CarwatchError && err.retriable;
    return { status: { configured: true, ok: false, dashboards: 0, error: errorMessage(err), retriable }, links: [] };
  }
}

export const listDashboards = defineTool({
  name: "list_dashboards",
  description:
    "Lists the dashboards with their links: carwatch's built-in ones (alerts over time, by color, top cars, incidents, pipeline throughput and stages, refreshing live), plus Superset's when SUPERSET_URL is set (a refused login or an unreachable Superset is reported in superset.error, not an error).",
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

/** Superset answers a dataset's creation only once it has read the table's columns from Trino. */
const PUBLISH_TIMEOUT_MS = 60_000;

export const publishDashboards = defineTool({
  name: "publish_dashboards",
  description: `Creates or updates carwatch's "${FLEET_DASHBOARD.title}" dashboard in Superset (SUPERSET_URL): the database connection to the lakehouse behind Trino, the datasets ${FLEET_DATASETS.map((t) => `${t.schema}.${t.name}`).join(", ")} and the charts ${FLEET_CHARTS.join(", ")}. Running it again updates them in place, never making a second copy; returns the dashboard's link and what was created or updated.`,
  input: z.object({}),
  role: "admin",
  destructive: true,
  run: async ({ ctx }) => {
    const cfg = ctx.dashboards;
    if (!cfg?.superset?.url) throw new InputError("publish_dashboards needs a Superset: set SUPERSET_URL, SUPERSET_USER and SUPERSET_PASSWORD");
    if (!cfg.lakehouseUri) throw new InputError("publish_dashboards needs STORE=trino: Superset reads the lakehouse through Trino");
    return publishFleetDashboard(await SupersetClient.login(cfg.superset, PUBLISH_TIMEOUT_MS), cfg.lakehouseUri);
  },
});

export const DASHBOARD_TOOLS = [listDashboards, publishDashboards] as const;
