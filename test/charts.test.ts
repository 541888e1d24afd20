import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Row } from "../domain/tables.js";
import { FIRST_WAVE_RULES as RULES } from "../pipeline/model/rules.js";
import { ChartStore } from "../tools/chart-store.js";
import { BUILTIN_DASHBOARDS } from "../tools/dashboards.js";
import type { Registry } from "../tools/index.js";
import { dashboardData } from "../web/dashboards.js";
import { type BotPipeline, botPipeline, registryFor, VIEWER } from "./support/bot-pipeline.js";

/**
 * Charts over more rows than the 200,000 the chart tools used to read (and
 * then silently cut): every row is counted, in SQL, in the query process.
 */
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const HOUR = 3_600_000;
const MINUTE = 60_000;
const READINGS = 250_000;
const ALERTS = 210_000;
const WINDOWS = 7 * 24 * 60;
const COLORS = ["Black", "Red", "Gray", "White", "Green", "Blue", "Pink"];
const MODELS = ["Corolla", "Civic", "Golf", "Model 3", "Focus"];

/** Spread over the hour before NOW, at every millisecond offset: a multiplier coprime to the hour's 3,600,000 ms. */
const timeOf = (i: number) => NOW - HOUR + ((i * 7_777_777) % HOUR);
const speedOf = (i: number) => ((i * 37) % 2001) / 10;

let p: BotPipeline;
let registry: Registry;
const asViewer = { userId: VIEWER, chatId: VIEWER, via: "telegram" as const };

async function writeRows(table: "cars_enriched" | "alerts" | "alert_windows", n: number, row: (i: number) => Row): Promise<void> {
  for (let i = 0; i < n; i += 50_000) {
    await p.lakehouse.write([{ table, rows: Array.from({ length: Math.min(50_000, n - i) }, (_, j) => row(i + j)) }]);
  }
}

beforeAll(async () => {
  p = await botPipeline();
  p.now = NOW;
  registry = registryFor(p, { charts: new ChartStore() });
  await writeRows("cars_enriched", READINGS, (i) => ({
    event_id: `r${i}`,
    event_time: timeOf(i),
    car_id: i % 20,
    driver_id: i % 20,
    brand_name: "Brand",
    model_name: MODELS[i % MODELS.length],
    color_name: COLORS[i % COLORS.length],
    speed: speedOf(i),
    rpm: 2000,
    gear: 3,
    expected_gear: 3,
    is_alert: false,
    rules: "",
  }));
  await writeRows("alerts", ALERTS, (i) => ({
    event_id: `a${i}`,
    rule: RULES[i % RULES.length],
    event_time: timeOf(i),
    car_id: i % 20,
    color_name: COLORS[i % COLORS.length],
    model_name: MODELS[i % MODELS.length],
    value: 130,
    threshold: 120,
    speed: 130,
    rpm: 3000,
    gear: 5,
    incident_id: `inc${i % 20}`,
  }));
  // A week of closed windows: more than the 5,000 the throughput tool used to read.
  await writeRows("alert_windows", WINDOWS, (i) => ({
    window_start: NOW - 7 * 24 * HOUR + i * MINUTE,
    window_end: NOW - 7 * 24 * HOUR + (i + 1) * MINUTE,
    events: 1000 + (i % 100),
    alert_events: i % 7,
    new_incidents: i % 3,
    late_events: i % 2,
    distinct_cars: 1,
    max_speed: null,
    max_gear: null,
    max_rpm: null,
    rule_counts: {},
    color_counts: {},
    top_cars: [],
    closed_at: NOW - 7 * 24 * HOUR + (i + 1) * MINUTE,
  }));
}, 120_000);
afterAll(async () => p?.close());

/** Counts per key, computed here from the rows as written. */
function tally<K>(n: number, key: (i: number) => K): Map<K, number> {
  const m = new Map<K, number>();
  for (let i = 0; i < n; i++) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

describe("charts over more rows than the old 200,000 limit", () => {
  it("speed_distribution counts every reading of the hour, bin by bin, in the query process", async () => {
    const sandbox = (p.lakehouse as unknown as { queries: { pids(): number[] } }).queries;
    expect(sandbox.pids()).toEqual([]);
    const d = await registry.call("speed_distribution", { since: "1h" }, asViewer);
    expect(d.readings).toBe(READINGS);
    expect(d.bins.reduce((a, b) => a + b.count, 0)).toBe(READINGS);
    const want = [...tally(READINGS, (i) => Math.floor(speedOf(i) / 10) * 10).entries()].sort((a, b) => a[0] - b[0]);
    expect(d.bins).toEqual(want.map(([from, count]) => ({ from, to: from + 10, count })));
    const over = tally(READINGS, (i) => speedOf(i) > 120).get(true)!;
    expect(d.overLimit).toBe(over);
    // The read ran in a query process (kept warm), not on the pipeline's connection.
    expect(sandbox.pids()).toHaveLength(1);
    const chart = await registry.call("render_chart", { chart: "speed_distribution", since: "1h" }, asViewer);
    expect(chart.caption).toBe(`Speeds of 250,000 readings, last 1h: ${over.toLocaleString("en-US")} over the 120 km/h limit.`);
  });

  it("alert_timeseries counts every alert per minute and rule, zero-filled, and the caption says so", async () => {
    const s = await registry.call("alert_timeseries", { since: "1h", by: "rule" }, asViewer);
    expect(s.bucketMs).toBe(MINUTE);
    expect(s.total).toBe(ALERTS);
    const want = tally(ALERTS, (i) => `${Math.floor(timeOf(i) / MINUTE) * MINUTE}|${RULES[i % RULES.length]}`);
    // 61 minutes (11:00 to 12:00 inclusive) times three rules; 12:00 itself is empty.
    expect(s.points).toHaveLength(61 * 3);
    for (const pt of s.points) expect(pt.value, `${new Date(pt.t).toISOString()} ${pt.key}`).toBe(want.get(`${pt.t}|${pt.key}`) ?? 0);
    expect(s.points.reduce((a, x) => a + x.value, 0)).toBe(ALERTS);
    expect(s.totals).toEqual(RULES.map((key) => ({ key, alerts: 70_000 })));
    const chart = await registry.call("render_chart", { chart: "alerts_by_rule", since: "1h" }, asViewer);
    expect(chart.caption).toBe("Alerts per minute by rule, last 1h: 210,000 in all (speeding 70,000, high_rpm 70,000, wrong_gear 70,000).");
    const byColor = await registry.call("render_chart", { chart: "alerts_by_color", since: "1h" }, asViewer);
    // 210,000 = 7 × 30,000: every color alike, and a tie goes to the first by name.
    expect(byColor.caption).toBe("Alerts by car color, last 1h: 210,000 in all, most on Black.");
  });

  it("window_timeseries sums a week of windows into 6-hour buckets", async () => {
    const w = await registry.call("window_timeseries", { since: "7d" }, asViewer);
    expect(w.bucketMs).toBe(6 * HOUR);
    expect(w.windows).toBe(WINDOWS);
    const events = [...Array(WINDOWS).keys()].reduce((a, i) => a + 1000 + (i % 100), 0);
    expect(w.events).toBe(events);
    expect(w.buckets.map((b) => b.windows)).toEqual(Array(28).fill(360));
    expect(w.buckets[0]).toEqual({
      start: NOW - 7 * 24 * HOUR,
      windows: 360,
      events: [...Array(360).keys()].reduce((a, i) => a + 1000 + (i % 100), 0),
      alertEvents: [...Array(360).keys()].reduce((a, i) => a + (i % 7), 0),
      newIncidents: [...Array(360).keys()].reduce((a, i) => a + (i % 3), 0),
      lateEvents: 180,
    });
    const chart = await registry.call("render_chart", { chart: "readings", since: "7d" }, asViewer);
    expect(chart.caption).toBe(`Readings per 6 hours, last 7d: ${events.toLocaleString("en-US")} in 10,080 closed windows.`);
  });

  it("dashboard panels state the real totals", async () => {
    const alerts = await dashboardData(registry, BUILTIN_DASHBOARDS.find((d) => d.id === "alerts")!);
    const notes = Object.fromEntries(alerts.panels.map((x) => [x.id, x.error ?? x.note]));
    expect(notes.alerts_by_rule).toBe("210,000 alerts in the last hour");
    expect(notes.alerts_by_color).toBe("210,000 alerts, 7 colors");
    // 210,000 alerts over 20 cars: 10,500 each; the first ten by id.
    expect(alerts.panels.find((x) => x.id === "top_cars")!.table!.rows.map((r) => [r[0], r[3]])).toEqual([...Array(10).keys()].map((car) => [car, 10_500]));
    for (const id of ["alerts_by_rule", "alerts_by_color"]) expect(alerts.panels.find((x) => x.id === id)!.svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    const pipeline = await dashboardData(registry, BUILTIN_DASHBOARDS.find((d) => d.id === "pipeline")!);
    const readings = pipeline.panels.find((x) => x.id === "readings")!;
    const lastHour = [...Array(60).keys()].reduce((a, k) => a + 1000 + ((WINDOWS - 60 + k) % 100), 0);
    expect(readings.note).toBe(`${lastHour.toLocaleString("en-US")} readings in 60 closed windows`);
  });
});
