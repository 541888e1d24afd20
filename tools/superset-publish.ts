import { z } from "zod";
import { TABLES, type TableSpec } from "../domain/tables.js";
import type { SupersetClient } from "./superset-client.js";

/** The Superset objects carwatch owns, found again by these names on every publish. */
export const SUPERSET_DATABASE = "carwatch";
export const FLEET_DASHBOARD = { title: "Fleet alerts", slug: "carwatch-fleet-alerts" } as const;

/** Superset's SQLAlchemy URI for the lakehouse behind Trino (the `trino` package's dialect). */
export function trinoSqlalchemyUri(trinoUrl: string, user: string, catalog: string): string {
  const u = new URL(trinoUrl);
  const https = u.protocol === "https:";
  const port = u.port || (https ? "443" : "80");
  return `trino://${encodeURIComponent(user)}@${u.hostname}:${port}/${encodeURIComponent(catalog)}${https ? "?protocol=https" : ""}`;
}

// Superset's "advanced" time range: the last hour, as the built-in Fleet alerts dashboard shows.
const LAST_HOUR = 'DATEADD(DATETIME("now"), -1, hour) : now';
const lastHour = (col: string) => ({
  form: [{ clause: "WHERE", expressionType: "SIMPLE", subject: col, operator: "TEMPORAL_RANGE", comparator: LAST_HOUR }],
  query: [{ col, op: "TEMPORAL_RANGE", val: LAST_HOUR }],
});
const perMinute = (col: string) => ({ columnType: "BASE_AXIS", expressionType: "SQL", sqlExpression: col, label: col, timeGrain: "PT1M" });
const sum = (column: string, label: string) => ({ expressionType: "SIMPLE", aggregate: "SUM", column: { column_name: column }, label, hasCustomLabel: true });

interface ChartSpec {
  title: string;
  table: TableSpec;
  viz: string;
  /** Grid columns of 12. */
  width: number;
  /** The explore form (the chart's params). */
  form: Record<string, unknown>;
  /** The saved query, for /api/v1/chart/<id>/data, reports and thumbnails. */
  query: Record<string, unknown>;
}

/** Superset's own "count" metric, which every dataset gets (COUNT(*)). */
const COUNT = "count";

const CHARTS: readonly ChartSpec[] = [
  {
    title: "Alerts per minute by rule",
    table: TABLES.alerts,
    viz: "echarts_timeseries_bar",
    width: 8,
    form: {
      x_axis: "event_time",
      time_grain_sqla: "PT1M",
      metrics: [COUNT],
      groupby: ["rule"],
      adhoc_filters: lastHour("event_time").form,
      stack: "Stack",
      row_limit: 10000,
    },
    query: { columns: [perMinute("event_time"), "rule"], series_columns: ["rule"], metrics: [COUNT], filters: lastHour("event_time").query, row_limit: 10000 },
  },
  {
    title: "Alerts by car color",
    table: TABLES.alerts,
    viz: "pie",
    width: 4,
    form: { groupby: ["color_name"], metric: COUNT, adhoc_filters: lastHour("event_time").form, row_limit: 100 },
    query: { columns: ["color_name"], metrics: [COUNT], orderby: [[COUNT, false]], filters: lastHour("event_time").query, row_limit: 100 },
  },
  {
    title: "Top cars",
    table: TABLES.alerts,
    viz: "table",
    width: 6,
    form: {
      query_mode: "aggregate",
      groupby: ["car_id", "model_name", "color_name"],
      metrics: [COUNT],
      timeseries_limit_metric: COUNT,
      order_desc: true,
      adhoc_filters: lastHour("event_time").form,
      row_limit: 10,
    },
    query: {
      columns: ["car_id", "model_name", "color_name"],
      metrics: [COUNT],
      orderby: [[COUNT, false]],
      filters: lastHour("event_time").query,
      row_limit: 10,
    },
  },
  {
    title: "Latest incidents",
    table: TABLES.incidents,
    viz: "table",
    width: 6,
    form: {
      query_mode: "raw",
      all_columns: ["started_at", "car_id", "rule", "severity", "event_count", "peak_value", "resolved_at"],
      order_by_cols: [JSON.stringify(["started_at", false])],
      adhoc_filters: [],
      row_limit: 20,
    },
    query: {
      columns: ["started_at", "car_id", "rule", "severity", "event_count", "peak_value", "resolved_at"],
      orderby: [["started_at", false]],
      filters: [],
      row_limit: 20,
    },
  },
  {
    title: "Readings and alert readings per minute",
    table: TABLES.alert_windows,
    viz: "echarts_timeseries_line",
    width: 12,
    form: {
      x_axis: "window_start",
      time_grain_sqla: "PT1M",
      metrics: [sum("events", "readings"), sum("alert_events", "alert readings")],
      groupby: [],
      adhoc_filters: lastHour("window_start").form,
      row_limit: 10000,
    },
    query: {
      columns: [perMinute("window_start")],
      metrics: [sum("events", "readings"), sum("alert_events", "alert readings")],
      filters: lastHour("window_start").query,
      row_limit: 10000,
    },
  },
];

/** The tables the charts read, once each, in the charts' order. */
export const FLEET_DATASETS: readonly TableSpec[] = [...new Set(CHARTS.map((c) => c.table))];
export const FLEET_CHARTS: readonly string[] = CHARTS.map((c) => c.title);

export interface Published {
  id: number;
  created: boolean;
}
export interface PublishReport {
  url: string;
  dashboard: Published;
  database: Published;
  datasets: (Published & { table: string })[];
  charts: (Published & { title: string })[];
}

const WithId = z.object({ id: z.number().int() });
const DatabaseRow = WithId.extend({ database_name: z.string() });
const DatasetRow = WithId.extend({ table_name: z.string(), schema: z.string().nullable(), database: WithId });
const DashboardRow = WithId.extend({ slug: z.string().nullable() });
const DashboardCharts = z.object({ result: z.array(WithId.extend({ slice_name: z.string() })) });

/**
 * Creates or updates the Fleet alerts dashboard: the database connection
 * (Superset tests it, so Trino must answer), one dataset per table, the
 * charts and their layout. Each object is looked up by its name first and
 * updated in place, so a second run leaves exactly one of each.
 */
export async function publishFleetDashboard(api: SupersetClient, sqlalchemyUri: string): Promise<PublishReport> {
  const database = await upsertDatabase(api, sqlalchemyUri);
  const datasets: PublishReport["datasets"] = [];
  for (const t of FLEET_DATASETS) datasets.push({ table: `${t.schema}.${t.name}`, ...(await upsertDataset(api, database.id, t)) });
  const datasetOf = (t: TableSpec) => datasets[FLEET_DATASETS.indexOf(t)]!.id;

  const found = await api.list("dashboard", DashboardRow, [{ col: "slug", opr: "eq", value: FLEET_DASHBOARD.slug }]);
  const existing = found.find((d) => d.slug === FLEET_DASHBOARD.slug);
  const dashboard = existing
    ? { id: existing.id, created: false }
    : { id: await api.create("dashboard", { dashboard_title: FLEET_DASHBOARD.title, slug: FLEET_DASHBOARD.slug, published: true }), created: true };

  const onDashboard = (await api.get(`/api/v1/dashboard/${dashboard.id}/charts`, DashboardCharts)).result;
  const charts: PublishReport["charts"] = [];
  for (const c of CHARTS) {
    const datasetId = datasetOf(c.table);
    const form = { ...c.form, viz_type: c.viz, datasource: `${datasetId}__table` };
    const body = {
      slice_name: c.title,
      viz_type: c.viz,
      datasource_id: datasetId,
      datasource_type: "table",
      params: JSON.stringify(form),
      query_context: JSON.stringify({
        datasource: { id: datasetId, type: "table" },
        force: false,
        queries: [{ extras: { having: "", where: "" }, applied_time_extras: {}, ...c.query }],
        form_data: form,
        result_format: "json",
        result_type: "full",
      }),
    };
    const same = onDashboard.find((x) => x.slice_name === c.title);
    if (same) await api.update(`chart/${same.id}`, body);
    // Created on the dashboard, so a publish cut short finds it there next time.
    charts.push(
      same
        ? { title: c.title, id: same.id, created: false }
        : { title: c.title, id: await api.create("chart", { ...body, dashboards: [dashboard.id] }), created: true },
    );
  }

  const positions = layout(charts.map((c, i) => ({ id: c.id, title: c.title, width: CHARTS[i]!.width })));
  await api.update(`dashboard/${dashboard.id}`, {
    dashboard_title: FLEET_DASHBOARD.title,
    slug: FLEET_DASHBOARD.slug,
    published: true,
    position_json: JSON.stringify(positions),
    // Superset sets the dashboard's charts from these positions: exactly carwatch's, in this layout.
    json_metadata: JSON.stringify({ positions, refresh_frequency: 60, color_scheme: "supersetColors" }),
  });
  return { url: `${api.base}/superset/dashboard/${FLEET_DASHBOARD.slug}/`, dashboard, database, datasets, charts };
}

async function upsertDatabase(api: SupersetClient, sqlalchemyUri: string): Promise<Published> {
  const found = (await api.list("database", DatabaseRow, [{ col: "database_name", opr: "eq", value: SUPERSET_DATABASE }])).find(
    (d) => d.database_name === SUPERSET_DATABASE,
  );
  if (found) {
    await api.update(`database/${found.id}`, { sqlalchemy_uri: sqlalchemyUri });
    return { id: found.id, created: false };
  }
  return { id: await api.create("database", { database_name: SUPERSET_DATABASE, sqlalchemy_uri: sqlalchemyUri, expose_in_sqllab: true }), created: true };
}

async function upsertDataset(api: SupersetClient, databaseId: number, t: TableSpec): Promise<Published> {
  const found = (await api.list("dataset", DatasetRow, [{ col: "table_name", opr: "eq", value: t.name }])).find(
    (d) => d.database.id === databaseId && d.schema === t.schema && d.table_name === t.name,
  );
  if (found) {
    // Picks up the columns a newer carwatch added to the table.
    await api.update(`dataset/${found.id}/refresh`);
    return { id: found.id, created: false };
  }
  return { id: await api.create("dataset", { database: databaseId, schema: t.schema, table_name: t.name }), created: true };
}

/** Superset's dashboard layout (position_json v2): rows of charts, each row's widths adding up to 12. */
function layout(charts: { id: number; title: string; width: number }[]): Record<string, unknown> {
  const rows: { id: number; title: string; width: number }[][] = [];
  for (const c of charts) {
    const row = rows.at(-1);
    if (row && row.reduce((a, x) => a + x.width, 0) + c.width <= 12) row.push(c);
    else rows.push([c]);
  }
  const out: Record<string, unknown> = {
    DASHBOARD_VERSION_KEY: "v2",
    ROOT_ID: { type: "ROOT", id: "ROOT_ID", children: ["GRID_ID"] },
    GRID_ID: { type: "GRID", id: "GRID_ID", children: rows.map((_, i) => `ROW-${i + 1}`), parents: ["ROOT_ID"] },
    HEADER_ID: { type: "HEADER", id: "HEADER_ID", meta: { text: FLEET_DASHBOARD.title } },
  };
  rows.forEach((row, i) => {
    const rowId = `ROW-${i + 1}`;
    out[rowId] = {
      type: "ROW",
      id: rowId,
      children: row.map((c) => `CHART-${c.id}`),
      parents: ["ROOT_ID", "GRID_ID"],
      meta: { background: "BACKGROUND_TRANSPARENT" },
    };
    for (const c of row) {
      out[`CHART-${c.id}`] = {
        type: "CHART",
        id: `CHART-${c.id}`,
        children: [],
        parents: ["ROOT_ID", "GRID_ID", rowId],
        meta: { chartId: c.id, sliceName: c.title, width: c.width, height: 50 },
      };
    }
  });
  return out;
}
