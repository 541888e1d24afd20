import type { TopLevelSpec } from "vega-lite";

/**
 * vega-lite specs for carwatch's charts, built from tool results. The same
 * specs make the chat's PNGs (render_chart) and the dashboards' SVGs.
 */

/** The rules' colors, the same everywhere. */
// The first wave's rules keep their colors; rules added since take the next of a categorical palette (Tableau 10, less those three).
const RULE_COLORS: Record<string, string> = { speeding: "#d62728", high_rpm: "#ff7f0e", wrong_gear: "#1f77b4" };
const MORE_RULE_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** Car colors drawn in their own color (White and Gray with a darker edge so they show on white). */
const CAR_COLOR_FILL: Record<string, string> = {
  Black: "#222222",
  Red: "#d62728",
  Gray: "#8c8c8c",
  White: "#f4f4f4",
  Green: "#2ca02c",
  Blue: "#1f77b4",
  Pink: "#e377c2",
};

export interface SeriesPoint {
  t: number;
  key: string;
  value: number;
}

const size = { width: 620, height: 260 } as const;

function ruleColors(rules: readonly string[]): string[] {
  let next = 0;
  return rules.map((r) => RULE_COLORS[r] ?? MORE_RULE_COLORS[next++ % MORE_RULE_COLORS.length]!);
}

export function timeSeriesSpec(o: {
  title: string;
  points: readonly SeriesPoint[];
  keyTitle: string;
  yTitle: string;
  keys?: readonly string[];
  stacked?: boolean;
}): TopLevelSpec {
  const keys = o.keys ?? [...new Set(o.points.map((p) => p.key))];
  const ruleScale =
    o.keyTitle === "rule"
      ? { domain: [...keys], range: ruleColors(keys) }
      : keys.every((k) => k in CAR_COLOR_FILL)
        ? { domain: [...keys], range: keys.map((k) => CAR_COLOR_FILL[k]!) }
        : { domain: [...keys] };
  return {
    ...size,
    title: o.title,
    data: { values: o.points.map((p) => ({ ...p })) },
    mark: o.stacked ? { type: "area", interpolate: "step-after", opacity: 0.85 } : { type: "line", interpolate: "monotone", point: o.points.length <= 40 },
    encoding: {
      x: { field: "t", type: "temporal", scale: { type: "utc" }, title: "time (UTC)", axis: { format: "%H:%M", labelOverlap: true } },
      y: { field: "value", type: "quantitative", title: o.yTitle, ...(o.stacked ? { stack: "zero" } : {}) },
      color: { field: "key", type: "nominal", title: o.keyTitle, scale: ruleScale, legend: { orient: "top" } },
    },
  } as TopLevelSpec;
}

export function barSpec(o: {
  title: string;
  bars: readonly { key: string; value: number }[];
  xTitle: string;
  yTitle: string;
  carColors?: boolean;
}): TopLevelSpec {
  const values = o.bars.map((b) => ({ ...b }));
  return {
    ...size,
    title: o.title,
    data: { values },
    mark: { type: "bar", stroke: "#555", strokeWidth: o.carColors ? 0.6 : 0 },
    encoding: {
      x: { field: "key", type: "nominal", title: o.xTitle, sort: "-y", axis: { labelAngle: 0 } },
      y: { field: "value", type: "quantitative", title: o.yTitle },
      ...(o.carColors
        ? {
            color: {
              field: "key",
              type: "nominal",
              legend: null,
              scale: { domain: values.map((v) => v.key), range: values.map((v) => CAR_COLOR_FILL[v.key] ?? "#4c78a8") },
            },
          }
        : { color: { value: "#4c78a8" } }),
    },
  } as TopLevelSpec;
}

export function histogramSpec(o: { title: string; bins: readonly { from: number; to: number; count: number }[]; limit: number; xTitle: string }): TopLevelSpec {
  return {
    ...size,
    title: o.title,
    layer: [
      {
        data: { values: o.bins.map((b) => ({ ...b, over: b.from >= o.limit ? "over the limit" : "within" })) },
        mark: { type: "bar", binSpacing: 1 },
        encoding: {
          x: { field: "from", type: "quantitative", bin: { binned: true, step: o.bins[0] ? o.bins[0].to - o.bins[0].from : 10 }, title: o.xTitle },
          x2: { field: "to" },
          y: { field: "count", type: "quantitative", title: "readings", scale: { type: "symlog" } },
          color: {
            field: "over",
            type: "nominal",
            title: null,
            scale: { domain: ["within", "over the limit"], range: ["#4c78a8", "#d62728"] },
            legend: { orient: "top" },
          },
        },
      },
      {
        data: { values: [{ limit: o.limit }] },
        mark: { type: "rule", strokeDash: [4, 3], color: "#d62728" },
        encoding: { x: { field: "limit", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec;
}
