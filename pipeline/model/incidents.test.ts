import { describe, expect, it } from "vitest";
import type { ScoredEvent } from "../../domain/events.js";
import { IncidentTracker } from "./incidents.js";

let n = 0;
const ev = (car_id: number, t: number, speed = 130): ScoredEvent => ({
  event_id: `${(++n).toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`,
  event_time: t,
  car_id,
  speed,
  rpm: 3000,
  gear: 6,
  expected_gear: 6,
  driver_id: 1,
  brand_name: "Kia",
  model_name: "Rio",
  color_name: "Red",
  is_alert: true,
  rules: ["speeding"],
});
const hit = (tr: IncidentTracker, e: ScoredEvent) => tr.hit(e, { rule: "speeding", value: e.speed, threshold: 120 });

describe("incident grouping", () => {
  it("groups consecutive alerts within the gap into one incident with peak and count", () => {
    const tr = new IncidentTracker(60_000);
    const a = hit(tr, ev(1, 0, 125));
    const b = hit(tr, ev(1, 30_000, 170));
    const c = hit(tr, ev(1, 90_000, 140));
    expect(a.opened).toBe(true);
    expect(b.opened).toBe(false);
    expect(c.opened).toBe(false);
    expect(c.incident).toMatchObject({ incident_id: a.incident.incident_id, started_at: 0, ended_at: 90_000, peak_value: 170, event_count: 3 });
  });

  it("opens a new incident after a gap longer than the limit, and per car and rule", () => {
    const tr = new IncidentTracker(60_000);
    const first = hit(tr, ev(1, 0));
    const other = hit(tr, ev(2, 1000));
    const rpm = tr.hit(ev(1, 2000), { rule: "high_rpm", value: 6500, threshold: 6000 });
    const later = hit(tr, ev(1, 60_001));
    expect(other.opened && rpm.opened).toBe(true);
    expect(later.opened).toBe(true);
    expect(new Set([first, other, rpm, later].map((h) => h.incident.incident_id)).size).toBe(4);
    const atGap = hit(tr, ev(1, 120_001));
    expect(atGap.opened).toBe(false);
  });

  it("continues a restored incident after a restart", () => {
    const tr = new IncidentTracker(60_000);
    const orig = hit(tr, ev(5, 1000)).incident;
    const fresh = new IncidentTracker(60_000);
    fresh.restore([{ ...orig }]);
    const next = hit(fresh, ev(5, 2000, 150));
    expect(next).toMatchObject({ opened: false, incident: { incident_id: orig.incident_id, event_count: 2, peak_value: 150 } });
  });

  it("prunes incidents that can no longer grow", () => {
    const tr = new IncidentTracker(1000);
    hit(tr, ev(1, 0));
    hit(tr, ev(2, 5000));
    tr.prune();
    expect(tr.size).toBe(1);
  });
});
