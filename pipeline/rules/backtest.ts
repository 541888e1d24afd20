import type { EnrichedEvent, Incident } from "../../domain/events.js";
import type { Rule, Severity } from "../../domain/rule-spec.js";
import { IncidentTracker } from "../model/incidents.js";
import { RuleEngine } from "./engine.js";
import type { RuleFiring } from "./firing.js";
import { SilenceAnchors } from "./silence-anchors.js";

/** What a backtest runs: rules (new, changed or stored) over the stored readings of [fromMs, toMs). */
export interface BacktestRequest {
  rules: Rule[];
  fromMs: number;
  toMs: number;
  /** The pipeline's WATERMARK_SECONDS in ms: silences and resolutions are judged on max event time − this, as the alert stage judges them. */
  watermarkMs: number;
  /** Every alert and incident besides the counts (a replay compared with the live rows); else only samples. */
  full?: boolean;
}

/** An alert row the rules would have written (telemetry.alerts' columns, event_time in ms). */
export interface BacktestAlert {
  event_id: string;
  event_time: number;
  car_id: number;
  rule: string;
  rule_id: string;
  rule_version: number;
  severity: Severity;
  value: number;
  threshold: number;
  speed: number;
  rpm: number;
  gear: number;
  color_name: string;
  model_name: string;
  incident_id: string;
}

export interface BacktestResult {
  fromMs: number;
  toMs: number;
  readings: number;
  alerts: number;
  incidents: number;
  /** Of the incidents, those resolved by the end of the range. */
  resolved: number;
  /** Cars with at least one alert. */
  carCount: number;
  /** The cars with most alerts, at most 10. */
  cars: { car_id: number; alerts: number }[];
  /** The first alerts, at most 5. */
  samples: BacktestAlert[];
  elapsedMs: number;
  /** With `full`: every alert in order, and every incident as the incidents table would hold it at the end. */
  all?: { alerts: BacktestAlert[]; incidents: Incident[] };
}

/** Readings between two watermark moves: the alert stage moves it once per batch, a backtest once per chunk of this many. */
export const BACKTEST_CHUNK = 1000;

/**
 * The alert stage's rule evaluation without its I/O, for readings streamed
 * in event-time order: the same RuleEngine and IncidentTracker, used as the
 * stage uses them per batch — each reading evaluated, then the silences the
 * watermark (max event time − watermarkMs) has reached, on the car's last
 * reading; their firings grouped into incidents, readings' first; then the
 * incidents the watermark resolves. Which alerts and incidents come out
 * does not depend on where the chunks end (nor the stage's batches), so over
 * the readings the live pipeline stored it gives the rows it wrote.
 */
export class Backtest {
  private readonly engine: RuleEngine;
  private readonly tracker = new IncidentTracker();
  private readonly clearMs: Map<string, number>;
  /** The readings silences fire on, as the alert stage keeps them. */
  private readonly anchors = new SilenceAnchors();
  private readonly pending: { e: EnrichedEvent; hits: RuleFiring[]; eventId: string }[] = [];
  private readonly incidents = new Map<string, Incident>();
  private readonly byCar = new Map<number, number>();
  private readonly alertRows: BacktestAlert[] = [];
  private maxSeen = Number.NEGATIVE_INFINITY;
  private readings = 0;
  private alerts = 0;
  private inChunk = 0;

  constructor(private readonly request: BacktestRequest) {
    this.engine = new RuleEngine(request.rules);
    this.anchors.setRules(request.rules);
    this.clearMs = new Map(request.rules.map((r) => [r.id, r.clear_seconds * 1000]));
  }

  /** One reading, in event-time order. */
  add(e: EnrichedEvent): void {
    this.readings++;
    this.anchors.see(e);
    if (e.event_time > this.maxSeen) this.maxSeen = e.event_time;
    const hits = this.engine.evaluate(e);
    if (hits.length > 0) this.pending.push({ e, hits, eventId: e.event_id });
    if (++this.inChunk === BACKTEST_CHUNK) this.flush();
  }

  /** The end of a chunk: what the alert stage does after evaluating a batch. */
  private flush(): void {
    this.inChunk = 0;
    const watermark = this.maxSeen - this.request.watermarkMs;
    for (const f of this.engine.advance(watermark)) {
      const e = this.anchors.readingOf(f);
      if (e) this.pending.push({ e, hits: [f], eventId: f.event_id });
    }
    this.anchors.prune(watermark);
    for (const { e, hits, eventId } of this.pending) for (const h of hits) this.alert(e, h, eventId);
    this.pending.length = 0;
    for (const i of this.tracker.resolve(watermark)) this.incidents.set(i.incident_id, i);
  }

  private alert(e: EnrichedEvent, h: RuleFiring, eventId: string): void {
    const { incident } = this.tracker.hit(e, h, this.clearMs.get(h.rule_id)!);
    this.incidents.set(incident.incident_id, { ...incident });
    this.byCar.set(e.car_id, (this.byCar.get(e.car_id) ?? 0) + 1);
    this.alerts++;
    if (!this.request.full && this.alertRows.length >= 5) return;
    this.alertRows.push({
      event_id: eventId,
      event_time: e.event_time,
      car_id: e.car_id,
      rule: h.rule,
      rule_id: h.rule_id,
      rule_version: h.version,
      severity: h.severity,
      value: h.value,
      threshold: h.threshold,
      speed: e.speed,
      rpm: e.rpm,
      gear: e.gear,
      color_name: e.color_name,
      model_name: e.model_name,
      incident_id: incident.incident_id,
    });
  }

  finish(elapsedMs: number): BacktestResult {
    this.flush();
    const incidents = [...this.incidents.values()];
    const cars = [...this.byCar]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, 10)
      .map(([car_id, alerts]) => ({ car_id, alerts }));
    return {
      fromMs: this.request.fromMs,
      toMs: this.request.toMs,
      readings: this.readings,
      alerts: this.alerts,
      incidents: incidents.length,
      resolved: incidents.filter((i) => i.resolved_at !== null).length,
      carCount: this.byCar.size,
      cars,
      samples: this.alertRows.slice(0, 5),
      elapsedMs,
      ...(this.request.full ? { all: { alerts: this.alertRows, incidents } } : {}),
    };
  }
}

/** The columns of telemetry.cars_enriched a backtest reads, in the order the query processes stream them. */
export const BACKTEST_COLUMNS = [
  "event_id",
  "event_time",
  "car_id",
  "driver_id",
  "brand_name",
  "model_name",
  "color_name",
  "speed",
  "rpm",
  "gear",
  "expected_gear",
] as const;

/** A streamed row (BACKTEST_COLUMNS' order) as the reading the alert stage evaluated; `toMillis` reads the engine's timestamp. */
export function backtestReading(row: readonly unknown[], toMillis: (v: unknown) => number): EnrichedEvent {
  return {
    event_id: row[0] as string,
    event_time: toMillis(row[1]),
    car_id: Number(row[2]),
    driver_id: Number(row[3]),
    brand_name: row[4] as string,
    model_name: row[5] as string,
    color_name: row[6] as string,
    speed: Number(row[7]),
    rpm: Number(row[8]),
    gear: Number(row[9]),
    expected_gear: Number(row[10]),
  };
}
