import type { EnrichedEvent, Incident } from "../../domain/events.js";
import { incidentId } from "../../domain/incident-id.js";
import type { RuleFiring } from "../rules/firing.js";

interface Held {
  incident: Incident;
  /** The rule's clear time when the incident last grew. */
  clearMs: number;
}

/**
 * Groups a car's firings of one rule into incidents. A firing joins the
 * car's open incident of that rule when it lies within the rule's clear time
 * of it; otherwise it opens a new one, whose id derives from its first alert
 * (a replay gives the same id). An incident resolves once the watermark has
 * passed its last alert by the rule's clear time: resolved_at is that alert's
 * time plus the clear time, in event time, so live and replay agree.
 */
export class IncidentTracker {
  private readonly open = new Map<string, Held>();
  /** Incidents a later firing proved over (it came past their clear time) before the watermark resolved them: resolved in turn. */
  private readonly over: Incident[] = [];

  private saved: { open: [string, Held][]; over: Incident[] } | null = null;

  /** Remembers the state before a store transaction whose derive step may run again (a busy retry after a rollback). */
  checkpoint(): void {
    this.saved = { open: [...this.open].map(([k, h]) => [k, { incident: { ...h.incident }, clearMs: h.clearMs }]), over: this.over.map((i) => ({ ...i })) };
  }

  /** Back to the last checkpoint: the rolled-back attempt's hits are forgotten, so a retry does not count them twice. */
  rewind(): void {
    if (!this.saved) return;
    this.open.clear();
    for (const [k, h] of this.saved.open) this.open.set(k, { incident: { ...h.incident }, clearMs: h.clearMs });
    this.over.splice(0, this.over.length, ...this.saved.over.map((i) => ({ ...i })));
  }

  /** Incidents that may still grow (after a restart, or a partition that moved here); resolved ones are ignored. */
  restore(incidents: readonly Incident[], clearMsOf: (ruleId: string) => number): void {
    for (const i of incidents) {
      if (i.resolved_at !== null) continue;
      const k = `${i.car_id}|${i.rule_id}`;
      const cur = this.open.get(k);
      if (!cur || cur.incident.ended_at < i.ended_at) this.open.set(k, { incident: { ...i }, clearMs: clearMsOf(i.rule_id) });
    }
  }

  /** Adds one firing; returns the incident (a live object: copy it to keep it) and whether it just opened. */
  hit(e: EnrichedEvent, f: RuleFiring, clearMs: number): { incident: Incident; opened: boolean } {
    const k = `${e.car_id}|${f.rule_id}`;
    const cur = this.open.get(k);
    if (cur && joins(cur.incident, e.event_time, clearMs)) {
      const i = cur.incident;
      i.started_at = Math.min(i.started_at, e.event_time);
      i.ended_at = Math.max(i.ended_at, e.event_time);
      i.peak_value = Math.max(i.peak_value, f.value);
      i.event_count++;
      cur.clearMs = clearMs;
      return { incident: i, opened: false };
    }
    // Past the open incident's clear time: that one is over (resolved at its last alert + the clear time), whether or
    // not the watermark got there yet; never dropped, or it would stay open in the table for ever.
    if (cur && e.event_time - cur.incident.ended_at > cur.clearMs) this.over.push({ ...cur.incident, resolved_at: cur.incident.ended_at + cur.clearMs });
    const incident: Incident = {
      incident_id: incidentId(e.event_id, f.rule_id),
      car_id: e.car_id,
      rule: f.rule,
      rule_id: f.rule_id,
      severity: f.severity,
      started_at: e.event_time,
      ended_at: e.event_time,
      peak_value: f.value,
      event_count: 1,
      color_name: e.color_name,
      model_name: e.model_name,
      resolved_at: null,
    };
    this.open.set(k, { incident, clearMs });
    return { incident, opened: true };
  }

  /** The incidents the watermark has resolved, in resolution order; they are forgotten here, so memory stays bounded. */
  resolve(watermark: number): Incident[] {
    const out: Incident[] = [];
    for (let i = this.over.length - 1; i >= 0; i--) if (this.over[i]!.resolved_at! <= watermark) out.push(...this.over.splice(i, 1));
    for (const [k, h] of this.open) {
      const at = h.incident.ended_at + h.clearMs;
      if (at > watermark) continue;
      out.push({ ...h.incident, resolved_at: at });
      this.open.delete(k);
    }
    return out.sort((a, b) => a.resolved_at! - b.resolved_at! || a.incident_id.localeCompare(b.incident_id));
  }

  get size(): number {
    return this.open.size + this.over.length;
  }
}

function joins(i: Incident, t: number, clearMs: number): boolean {
  return t - i.ended_at <= clearMs && i.started_at - t <= clearMs;
}
