import { z } from "zod";
import type { AlertMessage, EnrichedEvent, Incident, RuleHit, RuleName, ScoredEvent } from "../../domain/events.js";
import { IncidentTracker } from "../model/incidents.js";
import { readingKey, readingsWhere } from "../model/reading-key.js";
import { evaluateRules, type RuleResult } from "../model/rules.js";
import { defineStage } from "../stage.js";
import { ALERTS, ENRICHED } from "../transport/topics.js";
import type { Envelope, OutMessage } from "../transport/transport.js";
import { consumeUntilStopped } from "./consume.js";

/**
 * A cars_enriched row, with the rules that fired and the scored event (what
 * alert-data carries) for the few readings that alert. Field by field, not by
 * spreading: one object shape for every reading, which keeps this hot path fast.
 */
function enrichedRow(e: EnrichedEvent, hits: RuleResult[], source: number) {
  const rules = hits.map((h) => h.rule);
  const scored: ScoredEvent | null = hits.length > 0 ? { ...e, is_alert: true, rules } : null;
  return {
    event_id: e.event_id,
    event_time: e.event_time,
    car_id: e.car_id,
    driver_id: e.driver_id,
    brand_name: e.brand_name,
    model_name: e.model_name,
    color_name: e.color_name,
    speed: e.speed,
    rpm: e.rpm,
    gear: e.gear,
    expected_gear: e.expected_gear,
    is_alert: hits.length > 0,
    rules: rules.join(","),
    hits,
    scored,
    source,
  };
}

export const alertStage = defineStage({
  name: "alert",
  kind: "streaming",
  description:
    "Applies the alert rules (speed, rpm, wrong gear) to enriched readings, writes telemetry.cars_enriched and telemetry.alerts, groups alerts into incidents, and sends alerts to alert-data.",
  params: z.object({
    speedLimit: z.number().positive().optional().describe("km/h; default SPEED_LIMIT"),
    rpmLimit: z.number().positive().optional().describe("rpm; default RPM_LIMIT"),
  }),
  input: { topic: ENRICHED, group: "alert" },
  async run(ctx) {
    const { deps, counters } = ctx;
    const { lakehouse, transport, settings } = deps;
    const thresholds = {
      speedLimit: ctx.params.speedLimit ?? settings.thresholds.speedLimit,
      rpmLimit: ctx.params.rpmLimit ?? settings.thresholds.rpmLimit,
    };
    const incidents = new IncidentTracker(settings.incidentGapMs);
    const latest = await lakehouse.select<{ t: unknown }>("SELECT max(ended_at) AS t FROM telemetry.incidents");
    if (latest[0]?.t != null) {
      const since = new Date(lakehouse.toMillis(latest[0].t) - settings.incidentGapMs);
      const open = await lakehouse.select<Record<string, unknown>>("SELECT * FROM telemetry.incidents WHERE ended_at >= ?", [since]);
      incidents.restore(
        open.map((r) => ({ ...r, started_at: lakehouse.toMillis(r.started_at), ended_at: lakehouse.toMillis(r.ended_at) }) as unknown as Incident),
      );
    }
    let batches = 0;
    // Partitions of the input: the aggregate waits for every one of them before closing a window.
    const sources = transport.partitions?.(ENRICHED) ?? 1;

    await consumeUntilStopped(ctx, ENRICHED, "alert", async (batch: Envelope<EnrichedEvent>[]) => {
      counters.countIn(batch.length);
      const rows = batch.map((m) => enrichedRow(m.value, evaluateRules(m.value, thresholds), m.partition ?? 0));
      // A firing that would open an incident: the incident may be open in the table already, written by the
      // process that owned this car's partition before a rebalance. Restore those first (rare: one query per
      // batch that opens incidents).
      const uncovered = rows.filter((r) => r.hits.some((h) => !incidents.covers(r.car_id, h.rule, r.event_time)));
      if (uncovered.length > 0) {
        const since = Math.min(...uncovered.map((r) => r.event_time)) - settings.incidentGapMs;
        const cars = [...new Set(uncovered.map((r) => r.car_id))];
        const open = await lakehouse.select<Record<string, unknown>>(
          `SELECT * FROM telemetry.incidents WHERE ended_at >= ? AND car_id IN (${cars.map(() => "?").join(",")})`,
          [new Date(since), ...cars],
        );
        incidents.restore(
          open.map((r) => ({ ...r, started_at: lakehouse.toMillis(r.started_at), ended_at: lakehouse.toMillis(r.ended_at) }) as unknown as Incident),
        );
      }
      const messages: OutMessage<AlertMessage>[] = [];
      // Event times of the readings that alerted, per input partition: the progress marks carry them to the
      // one aggregate member that closes windows, which counts those for windows it already closed as late.
      const alertTimes = new Map<number, number[]>();
      // Incidents and alert rows are derived only from readings new to cars_enriched, in the same transaction.
      const fresh = await lakehouse.insertNew("cars_enriched", rows, (fresh) => {
        const alertRows: object[] = [];
        const touched = new Map<string, Incident>();
        for (const r of fresh) {
          if (!r.scored) continue;
          const scored = r.scored;
          const ruleHits: RuleHit[] = r.hits.map((h: RuleResult) => {
            const { incident, opened } = incidents.hit(scored, h);
            deps.metrics?.alerts.inc({ rule: h.rule });
            if (opened) deps.metrics?.incidents.inc({ rule: h.rule });
            touched.set(incident.incident_id, { ...incident });
            alertRows.push({
              event_id: r.event_id,
              rule: h.rule,
              event_time: r.event_time,
              car_id: r.car_id,
              color_name: r.color_name,
              model_name: r.model_name,
              value: h.value,
              threshold: h.threshold,
              speed: r.speed,
              rpm: r.rpm,
              gear: r.gear,
              incident_id: incident.incident_id,
            });
            return { ...h, incident_id: incident.incident_id, opened };
          });
          messages.push({ key: String(r.car_id), value: { kind: "alert", event: scored, hits: ruleHits } });
          const times = alertTimes.get(r.source);
          if (times) times.push(r.event_time);
          else alertTimes.set(r.source, [r.event_time]);
        }
        return [
          { table: "alerts", rows: alertRows },
          { table: "incidents", rows: [...touched.values()] },
        ];
      });
      // Readings already stored (a redelivery after a crash between the commit above and the produce
      // below): their alerts are sent again as stored, so alert-data misses none; consumers key by incident.
      const freshKeys = new Set(fresh.map(readingKey));
      const again = rows.filter((r) => r.hits.length > 0 && !freshKeys.has(readingKey(r)));
      if (again.length > 0) {
        const { where, params } = readingsWhere(again);
        const stored = await lakehouse.select<{ event_id: string; event_time: unknown; rule: RuleName; value: number; threshold: number; incident_id: string }>(
          `SELECT event_id, event_time, rule, value, threshold, incident_id FROM telemetry.alerts WHERE ${where}`,
          params,
        );
        for (const r of again) {
          const hits: RuleHit[] = stored
            .filter((a) => a.event_id === r.event_id && lakehouse.toMillis(a.event_time) === r.event_time)
            .map((a) => ({
              rule: a.rule,
              value: Number(a.value),
              threshold: Number(a.threshold),
              incident_id: a.incident_id,
              opened: a.incident_id.startsWith(r.event_id.slice(0, 8)),
            }));
          if (hits.length > 0 && r.scored) messages.push({ key: String(r.car_id), value: { kind: "alert", event: r.scored, hits } });
        }
      }
      // A progress mark per input partition and batch moves the windows' watermark even when nothing alerts.
      const spans = new Map<number, { min: number; max: number }>();
      let maxEventTime = 0;
      for (const m of batch) {
        const t = m.value.event_time;
        const s = spans.get(m.partition ?? 0);
        if (!s) spans.set(m.partition ?? 0, { min: t, max: t });
        else {
          s.min = Math.min(s.min, t);
          s.max = Math.max(s.max, t);
        }
        maxEventTime = Math.max(maxEventTime, t);
      }
      const alertCount = messages.length;
      for (const [source, s] of spans) {
        const times = alertTimes.get(source);
        messages.push({
          key: "progress",
          value: { kind: "progress", minEventTime: s.min, maxEventTime: s.max, source, sources, ...(times ? { alertTimes: times } : {}) },
        });
      }
      await transport.publish(ALERTS, messages);
      counters.out += alertCount;
      counters.lastEventTime = maxEventTime;
      if (++batches % 100 === 0) incidents.prune();
    });
  },
});
