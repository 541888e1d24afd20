import type { AlertMessage, EnrichedEvent, Incident, RuleHit, ScoredEvent } from "../../domain/events.js";
import { incidentId } from "../../domain/incident-id.js";
import type { Severity } from "../../domain/rule-spec.js";
import { IncidentTracker } from "../model/incidents.js";
import { readingKey, readingsWhere } from "../model/reading-key.js";
import type { RuleEngine } from "../rules/engine.js";
import type { RuleFiring } from "../rules/firing.js";
import { SilenceAnchors } from "../rules/silence-anchors.js";
import type { StageCounters, StageDeps } from "../stage.js";
import type { Lakehouse } from "../stores/lakehouse.js";
import { ALERTS } from "../transport/topics.js";
import type { OutMessage, RoundOutput, Topic } from "../transport/transport.js";
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

const RULE_STATE_SAVE_MS = 5000;

/** One input partition's rule state and incidents, judged on that partition's own watermark. */
interface Lane {
  partition: number;
  engine: RuleEngine;
  incidents: IncidentTracker;
  /** Cars whose state and open incidents were looked up in the tables. */
  cars: Set<number>;
  /** The newest event time of the partition: less the windows' allowed lateness, the watermark silences and resolutions are judged on. */
  maxSeen: number;
  /** The readings silences fire on (kept only while a silence rule is on). */
  anchors: SilenceAnchors;
}

/** An incidents row as stored; rows from before rules were data lack rule_id and severity. */
function storedIncident(r: Record<string, unknown>, lakehouse: Lakehouse): Incident {
  return {
    ...r,
    rule_id: r.rule_id ?? r.rule,
    severity: r.severity ?? "medium",
    started_at: lakehouse.toMillis(r.started_at),
    ended_at: lakehouse.toMillis(r.ended_at),
    resolved_at: r.resolved_at == null ? null : lakehouse.toMillis(r.resolved_at),
  } as unknown as Incident;
}

/**
 * The alert stage's work on a batch of enriched readings: the rule table's
 * enabled rules per input partition (lanes), cars_enriched, alerts,
 * incidents and rule state in one transaction, then alert-data. Run by the
 * alert stage on samples-enriched, or inside the enrich stage's round when
 * the two are fused in one process (`input` is then sensors-sample).
 */
export class AlertScorer {
  private readonly rules: RuleRuntime;
  private readonly lanes = new Map<number, Lane>();
  private owned: Set<number> | null = null;
  /** Partitions of the input: the aggregate waits for every one of them before closing a window. */
  private readonly sources: number;
  // Per-car rule state is saved every few seconds, not every batch: a restore replays the stored readings since
  // the saved state anyway, so a save is only a shortcut for that replay, and saving each batch cost more than the rules.
  private savedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: StageDeps,
    private readonly counters: StageCounters,
    input: Topic<unknown>,
  ) {
    this.rules = new RuleRuntime(deps);
    this.sources = deps.transport.partitions?.(input) ?? 1;
  }

  /** Before the first batch: ids from before incident ids were hashed are converted. */
  async init(): Promise<void> {
    await convertLegacyIncidentIds(this.deps);
  }

  /** Partitions moved (Kafka): per-car state is rebuilt from what is stored, for the cars this process now owns. */
  assign(partitions: readonly number[]): void {
    this.owned = new Set(partitions);
  }

  private laneOf(partition: number): Lane {
    let lane = this.lanes.get(partition);
    if (!lane) {
      lane = {
        partition,
        engine: this.rules.newEngine(),
        incidents: new IncidentTracker(),
        cars: new Set(),
        maxSeen: Number.NEGATIVE_INFINITY,
        anchors: new SilenceAnchors(),
      };
      lane.anchors.setRules(this.rules.list);
      this.lanes.set(partition, lane);
    }
    return lane;
  }

  /** Cars new to a lane (a start, or a partition that moved here): their rule state and open incidents come back from the tables. */
  private async adopt(lane: Lane, events: readonly EnrichedEvent[]): Promise<void> {
    const cars = [...new Set(events.map((e) => e.car_id))].filter((c) => !lane.cars.has(c));
    if (cars.length === 0) return;
    const { lakehouse } = this.deps;
    await this.rules.restoreCars(lane.engine, cars);
    const open = await lakehouse.select<Record<string, unknown>>(
      `SELECT * FROM telemetry.incidents WHERE resolved_at IS NULL AND car_id IN (${cars.map(() => "?").join(",")})`,
      cars,
    );
    lane.incidents.restore(
      open.map((r) => storedIncident(r, lakehouse)),
      (id) => this.rules.clearMs(id),
    );
    for (const c of cars) lane.cars.add(c);
  }

  /** Scores a batch (each reading with the input partition it was read from) and publishes its alert-data through `out`. */
  async handle(batch: readonly { value: EnrichedEvent; partition?: number }[], out: RoundOutput): Promise<void> {
    this.counters.countIn(batch.length);
    // A partition that moved away takes its cars' state with it: if it comes back, it is restored from the tables.
    if (this.owned) for (const p of this.lanes.keys()) if (!this.owned.has(p)) this.lanes.delete(p);
    if (this.rules.refresh()) {
      for (const lane of this.lanes.values()) {
        lane.engine.setRules(this.rules.list);
        lane.anchors.setRules(this.rules.list);
      }
      this.deps.log.info({ rules: this.rules.list.filter((r) => r.enabled).length }, "alert rules reloaded");
    }
    const byLane = new Map<Lane, EnrichedEvent[]>();
    for (const m of batch) {
      const lane = this.laneOf(m.partition ?? 0);
      const list = byLane.get(lane);
      if (list) list.push(m.value);
      else byLane.set(lane, [m.value]);
    }
    const rows: ReturnType<typeof enrichedRow>[] = [];
    const silent: ReturnType<typeof enrichedRow>[] = [];
    for (const [lane, events] of byLane) {
      await this.adopt(lane, events);
      const { engine, anchors } = lane;
      for (const e of events) {
        anchors.see(e);
        if (e.event_time > lane.maxSeen) lane.maxSeen = e.event_time;
        rows.push(enrichedRow(e, engine.evaluate(e), lane.partition));
      }
      // Silences fire on no reading of their own: on the car's last one before the gap, at the time the silence was reached.
      const watermark = lane.maxSeen - this.deps.settings.watermarkMs;
      for (const f of engine.advance(watermark)) {
        const e = anchors.readingOf(f);
        if (e) silent.push(enrichedRow(e, [f], lane.partition));
      }
      anchors.prune(watermark);
    }
    const save = Date.now() - this.savedAt >= RULE_STATE_SAVE_MS;
    if (save) this.savedAt = Date.now();
    // Taken once, before the transaction: rule state does not depend on which readings are fresh, and a snapshot marks cars saved.
    const stateRows = [...this.lanes.values()].flatMap((lane) => this.rules.stateRows(lane.engine, save ? "dirty" : "unsaved"));
    // SQLite may answer busy inside the transaction; the lakehouse then rolls it back and runs it again, this
    // derive step included: each attempt starts from the incidents as they were and from empty outputs.
    for (const lane of this.lanes.values()) lane.incidents.checkpoint();
    // alertTimes: event times of the readings that alerted, per input partition; the progress marks carry them to
    // the one aggregate member that closes windows, which counts those for windows it already closed as late.
    let attempt: { messages: OutMessage<AlertMessage>[]; alertTimes: Map<number, number[]>; resolved: Incident[] } | null = null;
    const fresh = await this.deps.lakehouse.insertNew("cars_enriched", rows, (fresh) => {
      if (attempt) for (const lane of this.lanes.values()) lane.incidents.rewind();
      attempt = { messages: [], alertTimes: new Map(), resolved: [] };
      const { messages, alertTimes, resolved } = attempt;
      // Incidents and alert rows are derived only from readings new to cars_enriched, in the same transaction.
      const alertRows: object[] = [];
      const touched = new Map<string, Incident>();
      for (const r of [...fresh, ...silent]) {
        if (!r.scored) continue;
        const scored = r.scored;
        const ruleHits: RuleHit[] = r.hits.map((h: RuleFiring) => {
          const { incident, opened } = this.laneOf(r.source).incidents.hit(scored, h, this.rules.clearMs(h.rule_id));
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
            kind: h.kind,
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
      // Each lane's incidents resolve on its own partition's watermark: another partition running ahead says nothing about this one's cars.
      for (const lane of this.lanes.values()) resolved.push(...lane.incidents.resolve(lane.maxSeen - this.deps.settings.watermarkMs));
      for (const i of resolved) touched.set(i.incident_id, i);
      return [
        { table: "alerts", rows: alertRows },
        { table: "incidents", rows: [...touched.values()] },
        { table: "rule_state", rows: stateRows },
      ];
    });
    const { messages, alertTimes, resolved } = attempt!;
    // Counted once the transaction committed: a retried attempt's hits are not.
    for (const m of messages) {
      if (m.value.kind !== "alert") continue;
      for (const h of m.value.hits) {
        this.deps.metrics?.alerts.inc({ rule: h.rule });
        if (h.opened) this.deps.metrics?.incidents.inc({ rule: h.rule });
      }
    }
    for (const incident of resolved) messages.push({ key: String(incident.car_id), value: { kind: "resolved", incident } });
    // Readings already stored (a redelivery after a crash between the commit above and the produce
    // below): their alerts are sent again as stored, so alert-data misses none; consumers key by incident.
    const freshKeys = new Set(fresh.map(readingKey));
    const again = rows.filter((r) => r.hits.length > 0 && !freshKeys.has(readingKey(r)));
    if (again.length > 0) {
      const { where, params } = readingsWhere(again);
      const stored = await this.deps.lakehouse.select<{
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
          .filter((a) => a.event_id === r.event_id && this.deps.lakehouse.toMillis(a.event_time) === r.event_time)
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
        value: { kind: "progress", minEventTime: s.min, maxEventTime: s.max, source, sources: this.sources, ...(times ? { alertTimes: times } : {}) },
      });
    }
    await out.publish(ALERTS, messages);
    this.counters.out += alertCount;
    this.counters.lastEventTime = maxEventTime;
  }
}
