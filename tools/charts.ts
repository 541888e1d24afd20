import { z } from "zod";
import { CarwatchError } from "../core/errors.js";
import { LIMITS } from "../domain/events.js";
import { renderPng } from "./chart-render.js";
import { barSpec, histogramSpec, type SeriesPoint, timeSeriesSpec } from "./chart-specs.js";
import { timeBucketSql } from "./chart-sql.js";
import { durationSchema } from "./duration.js";
import { defineTool, type ToolContext } from "./registry.js";

/** Grouping keys map to fixed column names: user input never reaches the SQL text. */
const SERIES_COLUMNS = { rule: "rule", color: "color_name", model: "model_name" } as const;

/** A bucket of about 60 per period, on round sizes: 1 minute for the last hour. */
export function bucketFor(periodMs: number): number {
  const sizes = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000];
  return sizes.find((s) => periodMs / s <= 120) ?? 86_400_000;
}

const floorTo = (t: number, step: number) => Math.floor(t / step) * step;

/** A count as people read it: 12,345. */
export const countText = (n: number) => n.toLocaleString("en-US");

export const alertTimeseries = defineTool({
  name: "alert_timeseries",
  description:
    'Alerts per time bucket (1 minute for the last hour; coarser for longer periods) over the last period (default 1h), one series per rule, color or model, zero-filled, with each one\'s total. Use for "alerts over time" or trends.',
  input: z.object({ since: durationSchema.default(3_600_000), by: z.enum(["rule", "color", "model"]).default("rule") }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => alertSeries(ctx, input.since, input.by),
});

/** Every alert of the period counted in SQL, per bucket and key. */
async function alertSeries(ctx: ToolContext, since: number, by: keyof typeof SERIES_COLUMNS) {
  const to = ctx.clock();
  const bucketMs = bucketFor(since);
  const from = floorTo(to - since, bucketMs);
  const rows = await ctx.lakehouse.aggregate<{ t: number; k: string; n: number }>(
    `SELECT ${timeBucketSql(ctx.lakehouse.dialect, "event_time", bucketMs)} AS t, ${SERIES_COLUMNS[by]} AS k, count(*) AS n ` +
      "FROM telemetry.alerts WHERE event_time >= ? AND event_time <= ? GROUP BY 1, 2",
    [new Date(from), new Date(to)],
  );
  const counts = new Map<string, number>();
  // Every enabled rule is a series, firing or not; rules disabled or deleted since still show what they raised.
  const totals = new Map<string, number>(
    by === "rule"
      ? ctx.rules
          .list()
          .filter((r) => r.enabled)
          .map((r) => [r.name, 0])
      : [],
  );
  for (const r of rows) {
    const key = String(r.k);
    counts.set(`${Number(r.t)}|${key}`, Number(r.n));
    totals.set(key, (totals.get(key) ?? 0) + Number(r.n));
  }
  const keys = by === "rule" ? [...totals.keys()] : [...totals.keys()].sort();
  const points: SeriesPoint[] = [];
  for (let t = from; t <= to; t += bucketMs) for (const key of keys) points.push({ t, key, value: counts.get(`${t}|${key}`) ?? 0 });
  return {
    from,
    to,
    bucketMs,
    by,
    keys,
    total: [...totals.values()].reduce((a, n) => a + n, 0),
    totals: keys.map((key) => ({ key, alerts: totals.get(key)! })).sort((a, b) => b.alerts - a.alerts),
    points,
  };
}

export const windowTimeseries = defineTool({
  name: "window_timeseries",
  description:
    'The pipeline\'s throughput per time bucket over the last period (default 1h), summed over the closed 1-minute windows in it (one window per bucket for the last hour; coarser buckets for longer periods): readings, readings with alerts, new incidents, late alerts. Use for "how many readings per minute" or whether data flows.',
  input: z.object({ since: durationSchema.default(3_600_000) }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => windowSeries(ctx, input.since),
});

async function windowSeries(ctx: ToolContext, since: number) {
  const to = ctx.clock();
  const bucketMs = bucketFor(since);
  const from = floorTo(to - since, bucketMs);
  const rows = await ctx.lakehouse.aggregate<Record<"t" | "window_count" | "events" | "alert_events" | "new_incidents" | "late_events", number>>(
    `SELECT ${timeBucketSql(ctx.lakehouse.dialect, "window_start", bucketMs)} AS t, count(*) AS window_count, sum(events) AS events, ` +
      "sum(alert_events) AS alert_events, sum(new_incidents) AS new_incidents, sum(late_events) AS late_events " +
      "FROM telemetry.alert_windows WHERE window_start >= ? AND window_start <= ? GROUP BY 1 ORDER BY 1",
    [new Date(from), new Date(to)],
  );
  const buckets = rows.map((r) => ({
    start: Number(r.t),
    windows: Number(r.window_count),
    events: Number(r.events),
    alertEvents: Number(r.alert_events),
    newIncidents: Number(r.new_incidents),
    lateEvents: Number(r.late_events),
  }));
  const sum = (f: (b: (typeof buckets)[number]) => number) => buckets.reduce((a, b) => a + f(b), 0);
  return { from, to, bucketMs, windows: sum((b) => b.windows), events: sum((b) => b.events), buckets };
}

export const speedDistribution = defineTool({
  name: "speed_distribution",
  description:
    "How the fleet's speeds were distributed over the last period (default 1h): counts of all its readings per 10 km/h bin, and how many were over the speed limit.",
  input: z.object({ since: durationSchema.default(3_600_000), binKmh: z.coerce.number().int().min(1).max(50).default(10) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => speedBins(ctx, input.since, input.binKmh),
});

/** The lowest speed an enabled rule alerts above (the speeding rule's, unless changed); none: the plausible maximum, so nothing counts as over. */
function speedLimit(ctx: ToolContext): number {
  const limits = ctx.rules
    .list()
    .flatMap((r) =>
      r.enabled && r.condition.kind === "threshold" && r.condition.field === "speed" && r.condition.op.startsWith(">") ? [r.condition.value] : [],
    );
  return limits.length > 0 ? Math.min(...limits) : LIMITS.speed;
}

/** Every reading of the period counted in SQL, per bin. */
async function speedBins(ctx: ToolContext, since: number, bin: number) {
  const to = ctx.clock();
  const from = to - since;
  const limit = speedLimit(ctx);
  const rows = await ctx.lakehouse.aggregate<{ b: number; n: number; over_limit: number }>(
    "SELECT CAST(floor(speed / ?) AS INTEGER) AS b, count(*) AS n, sum(CASE WHEN speed > ? THEN 1 ELSE 0 END) AS over_limit " +
      "FROM telemetry.cars_enriched WHERE event_time >= ? AND event_time <= ? GROUP BY 1 ORDER BY 1",
    [bin, limit, new Date(from), new Date(to)],
  );
  const bins = rows.map((r) => ({ from: Number(r.b) * bin, to: (Number(r.b) + 1) * bin, count: Number(r.n) }));
  return {
    from,
    to,
    readings: bins.reduce((a, b) => a + b.count, 0),
    limit,
    overLimit: rows.reduce((a, r) => a + Number(r.over_limit), 0),
    bins,
  };
}

/** A throughput series as drawn: readings and readings with alerts per bucket (the dashboards draw the same). */
export const throughputPoints = (buckets: readonly { start: number; events: number; alertEvents: number }[]): SeriesPoint[] =>
  buckets.flatMap((b) => [
    { t: b.start, key: "readings", value: b.events },
    { t: b.start, key: "with alerts", value: b.alertEvents },
  ]);

export const CHART_KINDS = ["alerts_by_rule", "alerts_by_color", "speed_distribution", "readings"] as const;
export type ChartKind = (typeof CHART_KINDS)[number];

/** A bucket's size in words: "minute", "5 minutes", "hour". */
const stepText = (ms: number) => {
  const [n, unit] = ms % 86_400_000 === 0 ? [ms / 86_400_000, "day"] : ms % 3_600_000 === 0 ? [ms / 3_600_000, "hour"] : [ms / 60_000, "minute"];
  return n === 1 ? unit : `${n} ${unit}s`;
};
const periodText = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms / 60_000}m`);

/** Builds one chart's spec and a one-line caption from the data tools (the dashboards use the same). */
export async function chartSpec(ctx: ToolContext, kind: ChartKind, since: number) {
  const period = periodText(since);
  switch (kind) {
    case "alerts_by_rule":
    case "alerts_by_color": {
      const by = kind === "alerts_by_rule" ? "rule" : "color";
      const s = await alertSeries(ctx, since, by);
      const step = stepText(s.bucketMs);
      if (by === "color") {
        const bars = s.totals.map((x) => ({ key: x.key, value: x.alerts }));
        return {
          spec: barSpec({ title: `Alerts by car color, last ${period}`, bars, xTitle: "color", yTitle: "alerts", carColors: true }),
          caption: `Alerts by car color, last ${period}: ${countText(s.total)} in all${bars.length ? `, most on ${bars[0]!.key}` : ""}.`,
        };
      }
      const per = s.totals.map((x) => `${x.key} ${countText(x.alerts)}`).join(", ");
      return {
        spec: timeSeriesSpec({
          title: `Alerts per ${step} by rule, last ${period}`,
          points: s.points,
          keys: s.keys,
          keyTitle: "rule",
          yTitle: `alerts per ${step}`,
          stacked: true,
        }),
        caption: `Alerts per ${step} by rule, last ${period}: ${countText(s.total)} in all (${per}).`,
      };
    }
    case "speed_distribution": {
      const d = await speedBins(ctx, since, 10);
      return {
        spec: histogramSpec({ title: `Speed distribution, last ${period}`, bins: d.bins, limit: d.limit, xTitle: "speed, km/h" }),
        caption: `Speeds of ${countText(d.readings)} readings, last ${period}: ${countText(d.overLimit)} over the ${d.limit} km/h limit.`,
      };
    }
    case "readings": {
      const w = await windowSeries(ctx, since);
      const step = stepText(w.bucketMs);
      return {
        spec: timeSeriesSpec({
          title: `Readings per ${step}, last ${period}`,
          points: throughputPoints(w.buckets),
          keyTitle: "",
          yTitle: `readings per ${step}`,
        }),
        caption: `Readings per ${step}, last ${period}: ${countText(w.events)} in ${countText(w.windows)} closed windows.`,
      };
    }
  }
}

export const renderChart = defineTool({
  name: "render_chart",
  description:
    "Draws a chart as a PNG picture and sends it to the user's chat: alerts_by_rule (alerts over time by rule), alerts_by_color, speed_distribution, readings (throughput per minute), over the last period (default 1h). " +
    "Returns the caption the picture carries, not the picture; do not describe the picture beyond the caption.",
  input: z.object({ chart: z.enum(CHART_KINDS).default("alerts_by_rule"), since: durationSchema.default(3_600_000) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx, caller }) => {
    if (!ctx.charts) throw new CarwatchError("tool", "charts are not available in this process");
    const { spec, caption } = await chartSpec(ctx, input.chart, input.since);
    const png = await renderPng(spec);
    const stored = ctx.charts.put(png, caption, caller.chatId);
    return { chartId: stored.id, chart: input.chart, caption, bytes: png.length, sentTo: caller.chatId };
  },
});

export const CHART_TOOLS = [alertTimeseries, windowTimeseries, speedDistribution, renderChart] as const;
