import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What the metrics read from the stage supervisor at scrape time. */
export interface StageSource {
  list(): { name: string; state: string; queueDepth: number; ratePerSec: number }[];
  /** Process-lifetime totals per stage, across runs. */
  totals(): Record<string, { in: number; out: number; errors: number; deadLetters: number }>;
}

/**
 * carwatch's Prometheus metrics, one registry per process (tests make their
 * own). Stage counters are read from the supervisor when scraped; the rest
 * are counted where they happen.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly stageBatchSeconds: Histogram<"stage">;
  readonly alerts: Counter<"rule">;
  readonly incidents: Counter<"rule">;
  readonly duplicates: Counter;
  readonly digests: Counter<"outcome">;
  readonly toolCalls: Counter<"tool" | "outcome">;
  readonly botUpdateSeconds: Histogram;
  readonly jobRuns: Counter<"job" | "outcome">;
  readonly kafkaPhaseSeconds: Histogram<"phase" | "group">;
  private stages: StageSource | null = null;

  constructor(options: { defaults?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry });
    this.stageBatchSeconds = new Histogram({
      name: "carwatch_stage_batch_seconds",
      help: "Time a stage took to process one batch",
      labelNames: ["stage"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.alerts = new Counter({ name: "carwatch_alerts_total", help: "Rule firings written", labelNames: ["rule"], registers });
    this.incidents = new Counter({ name: "carwatch_incidents_total", help: "Incidents opened", labelNames: ["rule"], registers });
    this.duplicates = new Counter({
      name: "carwatch_duplicate_readings_total",
      help: "Readings whose event_id was stored already with the same values (resent): kept once, counted here",
      registers,
    });
    this.digests = new Counter({
      name: "carwatch_digests_total",
      help: "Proactive chat messages (digests, incident and admin notices) by outcome: sent, failed (tried again later), refused (skipped)",
      labelNames: ["outcome"],
      registers,
    });
    this.toolCalls = new Counter({ name: "carwatch_tool_calls_total", help: "Tool calls by tool and outcome", labelNames: ["tool", "outcome"], registers });
    this.botUpdateSeconds = new Histogram({
      name: "carwatch_bot_update_seconds",
      help: "Time the bot took to handle one Telegram update",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.jobRuns = new Counter({ name: "carwatch_job_runs_total", help: "Scheduled job runs by outcome", labelNames: ["job", "outcome"], registers });
    this.kafkaPhaseSeconds = new Histogram({
      name: "carwatch_kafka_phase_seconds",
      help: "Where the Kafka path's time goes: produce (a publish's round trip), delivery (send to fetch), queued, handler and commit (per round, by consumer group)",
      labelNames: ["phase", "group"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });

    const self = this;
    const total = (name: string, help: string, field: "in" | "out" | "errors" | "deadLetters") =>
      new Counter({
        name,
        help,
        labelNames: ["stage"],
        registers,
        collect() {
          this.reset();
          for (const [stage, t] of Object.entries(self.stages?.totals() ?? {})) this.inc({ stage }, t[field]);
        },
      });
    total("carwatch_stage_events_in_total", "Messages a stage took in", "in");
    total("carwatch_stage_events_out_total", "Messages a stage sent on", "out");
    total("carwatch_stage_errors_total", "Stage crashes", "errors");
    total("carwatch_stage_dead_letters_total", "Messages a stage refused to the dead letters", "deadLetters");
    const gauge = (name: string, help: string, read: (s: ReturnType<StageSource["list"]>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["stage"],
        registers,
        collect() {
          this.reset();
          for (const s of self.stages?.list() ?? []) this.set({ stage: s.name }, read(s));
        },
      });
    gauge("carwatch_stage_queue_depth", "Messages waiting for a stage", (s) => s.queueDepth);
    gauge("carwatch_stage_rate", "Events per second a stage processed recently", (s) => s.ratePerSec);
    gauge("carwatch_stage_up", "1 when a stage runs", (s) => (s.state === "running" ? 1 : 0));
  }

  watchStages(source: StageSource): void {
    this.stages = source;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
