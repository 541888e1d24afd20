import type { EventEmitter } from "node:events";
import type { z } from "zod";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";
import type { StateStore } from "../state/store.js";
import type { AnomalyRates } from "./model/fleet.js";
import type { EventTimeBounds } from "./model/parse.js";
import type { RuleThresholds } from "./model/rules.js";
import type { FusedHop } from "./stages/fused-hop.js";
import type { Lakehouse } from "./stores/lakehouse.js";
import type { Topic, Transport } from "./transport/transport.js";

/** What every stage may use. Built once per process. */
export interface StageDeps {
  lakehouse: Lakehouse;
  state: StateStore;
  transport: Transport;
  log: Logger;
  /** In-process notifications: "dims-changed". */
  events: EventEmitter;
  settings: PipelineSettings;
  /** Prometheus metrics, when the process exports them. */
  metrics?: Metrics;
  /** Set when enrich and alert run fused in this process (Kafka): the alert stage scores inside enrich's rounds. */
  fused?: FusedHop;
}

export interface PipelineSettings {
  fleetSize: number;
  generatorRate: number;
  thresholds: RuleThresholds;
  watermarkMs: number;
  /** Intake bounds on event times around the server's clock. */
  eventTime: EventTimeBounds;
  incidentGapMs: number;
  /** The simulator's anomaly rates (pipeline/model/fleet.ts); the detectors' four are 0 when not given. */
  anomalies: { speeding: number; highRpm: number; wrongGear: number; malformed: number } & Partial<
    Pick<AnomalyRates, "harshBraking" | "stuckSensor" | "quietCar" | "engineDrift">
  >;
}

/** Live counters of one run, read by status, metrics and the run history. */
export class StageCounters {
  in = 0;
  out = 0;
  errors = 0;
  deadLetters = 0;
  lastEventTime: number | null = null;
  /** Recent processing rate, events/s, over a sliding window of a few seconds. */
  private samples: { t: number; n: number }[] = [];

  countIn(n: number, now = Date.now()): void {
    this.in += n;
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.t < 250) last.n += n;
    else this.samples.push({ t: now, n });
    while (this.samples.length > 0 && now - this.samples[0]!.t > 10_000) this.samples.shift();
  }

  rate(now = Date.now()): number {
    const recent = this.samples.filter((s) => now - s.t <= 10_000);
    if (recent.length === 0) return 0;
    const span = Math.max(1000, now - recent[0]!.t);
    return (recent.reduce((a, s) => a + s.n, 0) * 1000) / span;
  }

  snapshot() {
    return { in: this.in, out: this.out, errors: this.errors, deadLetters: this.deadLetters };
  }
}

export interface StageContext<P> {
  params: P;
  deps: StageDeps;
  counters: StageCounters;
  log: Logger;
  /** Aborted when the stage is asked to stop. */
  signal: AbortSignal;
  /** True on the first start of this stage in this process (recovery work happens then). */
  firstStart: boolean;
  /** Call once the stage takes input (its subscription is in place); starting waits for it. */
  ready(): void;
}

export interface StageInput {
  topic: Topic<unknown>;
  group: string;
}

export interface StageDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  /** streaming: runs until stopped and is restarted on a crash; batch: runs to completion. */
  kind: "streaming" | "batch";
  description: string;
  params: S;
  /** The topic and consumer group it reads, for queue depth; a function where that depends on how the process runs it. */
  input?: StageInput | ((deps: StageDeps) => StageInput);
  /** Resolves when finished (batch) or stopped (streaming); rejects when it crashed. */
  run(ctx: StageContext<z.output<S>>): Promise<void>;
}

export function defineStage<S extends z.ZodType>(def: StageDefinition<S>): StageDefinition<S> {
  return def;
}
