import { z } from "zod";
import type { AlertMessage, EnrichedEvent, Incident, RuleHit, ScoredEvent } from "../../domain/events.js";
import { incidentId } from "../../domain/incident-id.js";
import type { Severity } from "../../domain/rule-spec.js";
import { IncidentTracker } from "../model/incidents.js";
import { readingKey, readingsWhere } from "../model/reading-key.js";
import type { RuleFiring } from "../rules/firing.js";
import { defineStage } from "../stage.js";
import { ALERTS, ENRICHED } from "../transport/topics.js";
import type { Envelope, OutMessage } from "../transport/transport.js";
import { consumeUntilStopped } from "./consume.js";
import { convertLegacyIncidentIds } from "./incident-ids.js";
import { RuleRuntime } from "./rule-runtime.js";

/**
 * A cars_enriched row, with the rules that fired and the scored event (what
 * alert-data carries) for the few readings that alert. Field by field, not by
 * spreading: one object shape for every reading, which keeps this hot path fast.
 */
function enrichedRow(e: EnrichedEvent, hits: RuleFiring[], source: number) {
  const rules = hits.length === 0 ? NO_RULES : hits.map((h) => h.rule);
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
const NO_RULES: string[] = [];

type StoredIncident = Record<string, unknown>;

export const alertStage = defineStage({
  name: "alert",
  kind: "streaming",
  description:
    "Applies the rule table's enabled rules to enriched readings, writes telemetry.cars_enriched and telemetry.alerts, groups alerts into incidents that resolve once clear, and sends alerts to alert-data.",
  params: z.object({}),
  input: { topic: ENRICHED, group: "alert" },
  async run(ctx) {
    const { deps, counters } = ctx;
    const { lakehouse, transport, settings } = deps;
    await convertLegacyIncidentIds(deps);
    const rules = new RuleRuntime(deps);
    let incidents = new IncidentTracker();
    const incidentRow = (r: StoredIncident): Incident =>
      ({
        ...r,
        rule_id: r.rule_id ?? r.rule,
        severity: r.severity ?? "medium",
        started_at: lakehouse.toMillis(r.started_at),
        ended_at: lakehouse.toMillis(r.ended_at),
        resolved_at: r.resolved_at == null ? null : lakehouse.toMillis(r.resolved_at),
      }) as unknown as Incident;
    const restoreOpen = async (where: string, params: unknown[]) => {
      const open = await lakehouse.select<StoredIncident>(`SELECT * FROM telemetry.incidents WHERE resolved_at IS NULL AND ${where}`, params);
      incidents.restore(open.map(incidentRow), (id) => rules.clearMs(id));
    };
    await restoreOpen("true", []);
    let reassigned = false;
    // The newest event time this stage has seen, less the windows' allowed lateness: silences and resolutions are judged on it.
    let maxSeen = Number.NEGATIVE_INFINITY;
    // Each car's last reading, for the notice of a silence (which fires on no reading of its own); kept only while a silence rule is on.
    const lastReading = new Map<number, EnrichedEvent>();
    // Partitions of the input: the aggregate waits for every one of them before closing a window.
    const sources = transport.partitions?.(ENRICHED) ?? 1;

    await consumeUntilStopped(
      ctx,
      ENRICHED,
      "alert",
      async (batch: Envelope<EnrichedEvent>[]) => {
        counters.countIn(batch.length);
        if (reassigned) {
          reassigned = false;
          rules.reset();
          incidents = new IncidentTracker();
          lastReading.clear();
        }
        if (rules.refresh()) deps.log.info({ rules: rules.engine.rules.filter((r) => r.enabled).length }, "alert rules reloaded");
        const engine = rules.engine;
        await rules.restoreCars(batch.map((m) => m.value));
        const silences = engine.watchesSilence;
        const rows = batch.map((m) => {
          if (silences) lastReading.set(m.value.car_id, m.value);
          return enrichedRow(m.value, engine.evaluate(m.value), m.partition ?? 0);
        });
        for (const m of batch) if (m.value.event_time > maxSeen) maxSeen = m.value.event_time;
        const watermark = maxSeen - settings.watermarkMs;
        // Silences fire on no reading of their own: on the car's last one, at the time the silence was reached.
        const silent = engine.advance(watermark).flatMap((f) => {
          const last = lastReading.get(f.car_id);
          return last ? [{ ...enrichedRow({ ...last, event_time: f.event_time }, [f], 0), event_id: f.event_id }] : [];
        });
        // A firing that would open an incident: the incident may be open in the table already, written by the
        // process that owned this car's partition before a rebalance. Restore those first (rare: one query per
        // batch that opens incidents).
        const uncovered = [...rows, ...silent].filter((r) =>
          r.hits.some((h) => !incidents.covers(r.car_id, h.rule_id, r.event_time, rules.clearMs(h.rule_id))),
        );
        if (uncovered.length > 0) {
          const since = Math.min(...uncovered.map((r) => r.event_time - rules.clearMs(r.hits[0]!.rule_id)));
          const cars = [...new Set(uncovered.map((r) => r.car_id))];
          await restoreOpen(`ended_at >= ? AND car_id IN (${cars.map(() => "?").join(",")})`, [new Date(since), ...cars]);
        }
        const messages: OutMessage<AlertMessage>[] = [];
        // Event times of the readings that alerted, per input partition: the progress marks carry them to the
        // one aggregate member that closes windows, which counts those for windows it already closed as late.
        const alertTimes = new Map<number, number[]>();
        // Incidents and alert rows are derived only from readings new to cars_enriched, in the same transaction.
        let resolved: Incident[] = [];
        const fresh = await lakehouse.insertNew("cars_enriched", rows, (fresh) => {
          const alertRows: object[] = [];
          const touched = new Map<string, Incident>();
          for (const r of [...fresh, ...silent]) {
            if (!r.scored) continue;
            const scored = r.scored;
            const ruleHits: RuleHit[] = r.hits.map((h: RuleFiring) => {
              const { incident, opened } = incidents.hit(scored, h, rules.clearMs(h.rule_id));
              deps.metrics?.alerts.inc({ rule: h.rule });
              if (opened) deps.metrics?.incidents.inc({ rule: h.rule });
              touched.set(incident.incident_id, { ...incident });
              alertRows.push({
                event_id: r.event_id,
                rule: h.rule,
                rule_id: h.rule_id,
                rule_version: h.version,
                severity: h.severity,
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
              return {
                rule: h.rule,
                rule_id: h.rule_id,
                rule_version: h.version,
                severity: h.severity,
                value: h.value,
                threshold: h.threshold,
                incident_id: incident.incident_id,
                opened,
              };
            });
            messages.push({ key: String(r.car_id), value: { kind: "alert", event: scored, hits: ruleHits } });
            const times = alertTimes.get(r.source);
            if (times) times.push(r.event_time);
            else alertTimes.set(r.source, [r.event_time]);
          }
          resolved = incidents.resolve(watermark);
          for (const i of resolved) touched.set(i.incident_id, i);
          return [
            { table: "alerts", rows: alertRows },
            { table: "incidents", rows: [...touched.values()] },
            { table: "rule_state", rows: rules.stateRows() },
          ];
        });
        for (const incident of resolved) messages.push({ key: String(incident.car_id), value: { kind: "resolved", incident } });
        // Readings already stored (a redelivery after a crash between the commit above and the produce
        // below): their alerts are sent again as stored, so alert-data misses none; consumers key by incident.
        const freshKeys = new Set(fresh.map(readingKey));
        const again = rows.filter((r) => r.hits.length > 0 && !freshKeys.has(readingKey(r)));
        if (again.length > 0) {
          const { where, params } = readingsWhere(again);
          const stored = await lakehouse.select<{
            event_id: string;
            event_time: unknown;
            rule: string;
            rule_id: string | null;
            rule_version: number | null;
            severity: Severity | null;
            value: number;
            threshold: number;
            incident_id: string;
          }>(`SELECT event_id, event_time, rule, rule_id, rule_version, severity, value, threshold, incident_id FROM telemetry.alerts WHERE ${where}`, params);
          for (const r of again) {
            const hits: RuleHit[] = stored
              .filter((a) => a.event_id === r.event_id && lakehouse.toMillis(a.event_time) === r.event_time)
              .map((a) => ({
                rule: a.rule,
                rule_id: a.rule_id ?? a.rule,
                rule_version: Number(a.rule_version ?? 1),
                severity: a.severity ?? "medium",
                value: Number(a.value),
                threshold: Number(a.threshold),
                incident_id: a.incident_id,
                opened: a.incident_id === incidentId(r.event_id, a.rule_id ?? a.rule),
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
      },
      // Partitions moved (Kafka): per-car state is rebuilt from what is stored, for the cars this process now owns.
      { onAssignment: () => (reassigned = true) },
    );
  },
});
