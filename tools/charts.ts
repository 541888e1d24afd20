import { z } from "zod";
import { CarwatchError } from "../core/errors.js";
import { RULES } from "../pipeline/model/events.js";
import { renderPng } from "./chart-render.js";
import { barSpec, histogramSpec, type SeriesPoint, timeSeriesSpec } from "./chart-specs.js";
import { durationSchema } from "./duration.js";
import { defineTool, type ToolContext } from "./registry.js";

/** Grouping keys map to fixed column names: user input never reaches the SQL text. */
const SERIES_COLUMNS = { rule: "rule", color: "color_name", model: "model_name" } as const;
/** Rows read for one series or histogram at most (the newest first), so a long period cannot exhaust memory. */
const MAX_ROWS = 200_000;

/** A bucket of about 60 per period, on round sizes: 1 minute for the last hour. */
export function bucketFor(periodMs: number): number {
  const sizes = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000];
  return sizes.find((s) => periodMs / s <= 120) ?? 86_400_000;
}

const floorTo = (t: number, step: number) => Math.floor(t / step) * step;

export const alertTimeseries = defineTool({
  name: "alert_timeseries",
  description:
    'Alerts per time bucket (1 minute for the last hour; coarser for longer periods) over the last period (default 1h), one series per rule, color or model, zero-filled. Use for "alerts over time" or trends.',
  input: z.object({ since: durationSchema.default(3_600_000), by: z.enum(["rule", "color", "model"]).default("rule") }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => alertSeries(ctx, input.since, input.by),
});

async function alertSeries(ctx: ToolContext, since: number, by: keyof typeof SERIES_COLUMNS) {
  const input = { since, by };
  const to = ctx.clock();
  const bucketMs = bucketFor(input.since);
  const from = floorTo(to - input.since, bucketMs);
  const rows = await ctx.lakehouse.select<{ t: unknown; k: string }>(
    `SELECT event_time AS t, ${SERIES_COLUMNS[input.by]} AS k FROM telemetry.alerts WHERE event_time >= ? AND event_time <= ? LIMIT ${MAX_ROWS}`,
    [new Date(from), new Date(to)],
  );
  const counts = new Map<string, number>();
  const keys = new Set<string>(input.by === "rule" ? RULES : []);
  for (const r of rows) {
    const key = String(r.k);
    keys.add(key);
    const id = `${floorTo(ctx.lakehouse.toMillis(r.t), bucketMs)}|${key}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const points: SeriesPoint[] = [];
  for (let t = from; t <= to; t += bucketMs) for (const key of keys) points.push({ t, key, value: counts.get(`${t}|${key}`) ?? 0 });
  return { from, to, bucketMs, by: input.by, keys: [...keys], total: rows.length, truncated: rows.length === MAX_ROWS, points };
}

export const windowTimeseries = defineTool({
  name: "window_timeseries",
  description:
    'The pipeline\'s throughput per closed 1-minute window over the last period (default 1h): readings, readings with alerts, new incidents, late alerts. Use for "how many readings per minute" or whether data flows.',
  input: z.object({ since: durationSchema.default(3_600_000) }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => windowSeries(ctx, input.since),
});

async function windowSeries(ctx: ToolContext, since: number) {
  const to = ctx.clock();
  const from = to - since;
  const rows = await ctx.lakehouse.select<Record<string, unknown>>(
    `SELECT window_start, events, alert_events, new_incidents, late_events FROM telemetry.alert_windows WHERE window_start >= ? AND window_start <= ? ORDER BY window_start LIMIT 5000`,
    [new Date(from), new Date(to)],
  );
  return {
    from,
    to,
    windows: rows.map((r) => ({
      start: ctx.lakehouse.toMillis(r.window_start),
      events: Number(r.events),
      alertEvents: Number(r.alert_events),
      newIncidents: Number(r.new_incidents),
      lateEvents: Number(r.late_events),
    })),
  };
}

export const speedDistribution = defineTool({
  name: "speed_distribution",
  description:
    "How the fleet's speeds were distributed over the last period (default 1h): counts of readings per 10 km/h bin, and how many were over the speed limit.",
  input: z.object({ since: durationSchema.default(3_600_000), binKmh: z.coerce.number().int().min(1).max(50).default(10) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => speedBins(ctx, input.since, input.binKmh),
});

async function speedBins(ctx: ToolContext, since: number, bin: number) {
  const to = ctx.clock();
  const from = to - since;
  const rows = await ctx.lakehouse.select<{ speed: number }>(
    `SELECT speed FROM telemetry.cars_enriched WHERE event_time >= ? AND event_time <= ? LIMIT ${MAX_ROWS}`,
    [new Date(from), new Date(to)],
  );
  const counts = new Map<number, number>();
  let over = 0;
  for (const r of rows) {
    const s = Number(r.speed);
    if (s > ctx.thresholds.speedLimit) over++;
    const b = Math.floor(s / bin) * bin;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const bins = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([start, count]) => ({ from: start, to: start + bin, count }));
  return { from, to, readings: rows.length, truncated: rows.length === MAX_ROWS, limit: ctx.thresholds.speedLimit, overLimit: over, bins };
}

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
        const totals = new Map<string, number>();
        for (const p of s.points) totals.set(p.key, (totals.get(p.key) ?? 0) + p.value);
        const bars = [...totals.entries()].map(([key, value]) => ({ key, value }));
        return {
          spec: barSpec({ title: `Alerts by car color, last ${period}`, bars, xTitle: "color", yTitle: "alerts", carColors: true }),
          caption: `Alerts by car color, last ${period}: ${s.total} in all${bars.length ? `, most on ${[...bars].sort((a, b) => b.value - a.value)[0]!.key}` : ""}.`,
        };
      }
      const per = RULES.map((r) => `${r} ${s.points.filter((p) => p.key === r).reduce((a, p) => a + p.value, 0)}`).join(", ");
      return {
        spec: timeSeriesSpec({
          title: `Alerts per ${step} by rule, last ${period}`,
          points: s.points,
          keys: s.keys,
          keyTitle: "rule",
          yTitle: `alerts per ${step}`,
          stacked: true,
        }),
        caption: `Alerts per ${step} by rule, last ${period}: ${s.total} in all (${per}).`,
      };
    }
    case "speed_distribution": {
      const d = await speedBins(ctx, since, 10);
      return {
        spec: histogramSpec({ title: `Speed distribution, last ${period}`, bins: d.bins, limit: d.limit, xTitle: "speed, km/h" }),
        caption: `Speeds of ${d.readings} readings, last ${period}: ${d.overLimit} over the ${d.limit} km/h limit.`,
      };
    }
    case "readings": {
      const w = await windowSeries(ctx, since);
      const points = w.windows.flatMap((x) => [
        { t: x.start, key: "readings", value: x.events },
        { t: x.start, key: "with alerts", value: x.alertEvents },
      ]);
      const total = w.windows.reduce((a, x) => a + x.events, 0);
      return {
        spec: timeSeriesSpec({ title: `Readings per minute, last ${period}`, points, keyTitle: "", yTitle: "readings per minute" }),
        caption: `Readings per minute, last ${period}: ${total} in ${w.windows.length} closed windows.`,
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
