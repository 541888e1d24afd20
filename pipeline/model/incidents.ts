import type { Incident, RuleName, ScoredEvent } from "../../domain/events.js";
import type { RuleResult } from "./rules.js";

const RULE_CODE: Record<RuleName, string> = { speeding: "s", high_rpm: "r", wrong_gear: "g" };

/**
 * Groups alerts into incidents: alerts of the same car and rule whose event
 * times are at most `gapMs` apart belong to one incident. The id derives
 * from the first alert, so a replay gives the same id.
 */
export class IncidentTracker {
  private readonly open = new Map<string, Incident>();
  private maxSeen = 0;

  constructor(private readonly gapMs: number) {}

  /** Restores incidents that may still grow (after a restart). */
  restore(incidents: readonly Incident[]): void {
    for (const i of incidents) {
      const k = `${i.car_id}|${i.rule}`;
      const cur = this.open.get(k);
      if (!cur || cur.ended_at < i.ended_at) this.open.set(k, { ...i });
      this.maxSeen = Math.max(this.maxSeen, i.ended_at);
    }
  }

  /** Adds one rule firing; returns the incident (a live object: copy it to keep it) and whether it just opened. */
  hit(e: ScoredEvent, r: RuleResult): { incident: Incident; opened: boolean } {
    const k = `${e.car_id}|${r.rule}`;
    const cur = this.open.get(k);
    this.maxSeen = Math.max(this.maxSeen, e.event_time);
    if (cur && e.event_time - cur.ended_at <= this.gapMs && cur.started_at - e.event_time <= this.gapMs) {
      cur.started_at = Math.min(cur.started_at, e.event_time);
      cur.ended_at = Math.max(cur.ended_at, e.event_time);
      cur.peak_value = Math.max(cur.peak_value, r.value);
      cur.event_count++;
      return { incident: cur, opened: false };
    }
    const incident: Incident = {
      incident_id: `${e.event_id.slice(0, 8)}${RULE_CODE[r.rule]}`,
      car_id: e.car_id,
      rule: r.rule,
      started_at: e.event_time,
      ended_at: e.event_time,
      peak_value: r.value,
      event_count: 1,
      color_name: e.color_name,
      model_name: e.model_name,
    };
    this.open.set(k, incident);
    return { incident, opened: true };
  }

  /**
   * True when a firing at `t` would join an incident this tracker holds. When
   * it would not, another process may hold that incident (its partition moved
   * here after a rebalance or a crash): look it up in the table and restore it first.
   */
  covers(carId: number, rule: RuleName, t: number): boolean {
    const cur = this.open.get(`${carId}|${rule}`);
    return cur !== undefined && t - cur.ended_at <= this.gapMs && cur.started_at - t <= this.gapMs;
  }

  /** Forgets incidents that can no longer grow, so memory stays bounded. */
  prune(): void {
    for (const [k, i] of this.open) if (this.maxSeen - i.ended_at > this.gapMs) this.open.delete(k);
  }

  get size(): number {
    return this.open.size;
  }
}
