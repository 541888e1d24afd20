import type { AlertWindow } from "../../domain/events.js";
import { WINDOW_MS } from "../model/windows.js";
import type { Lakehouse } from "../stores/lakehouse.js";

/**
 * Computes one window's row from the tables themselves (not from in-memory
 * state), so whichever process closes a window, and however often, the row
 * is the same. `rules`: the enabled rules' names, each present in rule_counts
 * (with 0 when it did not fire), so digests and dashboards list every rule
 * in force; a rule that fired and was disabled since is counted too.
 */
export async function computeWindow(lakehouse: Lakehouse, start: number, lateEvents: number, rules: readonly string[]): Promise<AlertWindow> {
  const range = [new Date(start), new Date(start + WINDOW_MS)];
  const [events] = await lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_enriched WHERE event_time >= ? AND event_time < ?", range);
  const alerts = await lakehouse.select<{ event_id: string; rule: string; car_id: number; color_name: string; speed: number; rpm: number; gear: number }>(
    "SELECT event_id, rule, car_id, color_name, speed, rpm, gear FROM telemetry.alerts WHERE event_time >= ? AND event_time < ?",
    range,
  );
  const [incidents] = await lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.incidents WHERE started_at >= ? AND started_at < ?", range);
  const colors = await lakehouse.select<{ color_name: string }>("SELECT color_name FROM dims.car_colors ORDER BY color_id");

  const ruleCounts: Record<string, number> = Object.fromEntries(rules.map((r) => [r, 0]));
  const colorCounts: Record<string, number> = Object.fromEntries(colors.map((c) => [c.color_name, 0]));
  const perEvent = new Map<string, { car_id: number; color_name: string }>();
  const perCar = new Map<number, number>();
  let maxSpeed: number | null = null;
  let maxGear: number | null = null;
  let maxRpm: number | null = null;
  for (const a of alerts) {
    ruleCounts[a.rule] = (ruleCounts[a.rule] ?? 0) + 1;
    perCar.set(Number(a.car_id), (perCar.get(Number(a.car_id)) ?? 0) + 1);
    if (!perEvent.has(a.event_id)) {
      perEvent.set(a.event_id, a);
      colorCounts[a.color_name] = (colorCounts[a.color_name] ?? 0) + 1;
      maxSpeed = Math.max(maxSpeed ?? 0, Number(a.speed));
      maxGear = Math.max(maxGear ?? 0, Number(a.gear));
      maxRpm = Math.max(maxRpm ?? 0, Number(a.rpm));
    }
  }
  const topCars = [...perCar.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 5)
    .map(([car_id, n]) => ({ car_id, alerts: n }));
  return {
    window_start: start,
    window_end: start + WINDOW_MS,
    events: Number(events?.n ?? 0),
    alert_events: perEvent.size,
    new_incidents: Number(incidents?.n ?? 0),
    late_events: lateEvents,
    distinct_cars: perCar.size,
    max_speed: maxSpeed,
    max_gear: maxGear,
    max_rpm: maxRpm,
    rule_counts: ruleCounts,
    color_counts: colorCounts,
    top_cars: topCars,
  };
}
