import { EventEmitter } from "node:events";
import { join } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { Config } from "./core/config.js";
import type { Logger } from "./core/log.js";
import { Metrics } from "./core/metrics.js";
import { STAGES, STREAMING_ORDER } from "./pipeline/stages/index.js";
import type { PipelineSettings, StageDeps } from "./pipeline/stage.js";
import { SqliteLakehouse } from "./pipeline/stores/sqlite/lakehouse.js";
import { StateStore } from "./pipeline/stores/state.js";
import { Supervisor } from "./pipeline/supervisor.js";
import { MemoryTransport } from "./pipeline/transport/memory.js";
import { WINDOWS } from "./pipeline/transport/topics.js";
import type { Subscription, Transport } from "./pipeline/transport/transport.js";
import { compactionJob, retentionJob, watchdogJob } from "./scheduler/jobs.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { healthRoutes } from "./web/health.js";
import { metricsRoutes } from "./web/metrics.js";

export interface App {
  deps: StageDeps;
  supervisor: Supervisor;
  scheduler: Scheduler | null;
  metrics: Metrics;
  /** The HTTP server's address once listening. */
  url: string | null;
  stop(): Promise<void>;
}

export function settingsFrom(config: Config): PipelineSettings {
  return {
    fleetSize: config.FLEET_SIZE,
    generatorRate: config.GENERATOR_RATE,
    thresholds: { speedLimit: config.SPEED_LIMIT, rpmLimit: config.RPM_LIMIT },
    watermarkMs: config.WATERMARK_SECONDS * 1000,
    incidentGapMs: config.INCIDENT_GAP_SECONDS * 1000,
    anomalies: {
      speeding: config.ANOMALY_SPEEDING_RATE,
      highRpm: config.ANOMALY_RPM_RATE,
      wrongGear: config.ANOMALY_GEAR_RATE,
      malformed: config.MALFORMED_RATE,
    },
  };
}

/**
 * Builds and starts one carwatch process: stores, transport, the stages its
 * roles name, and the HTTP server.
 */
export async function startApp(config: Config, log: Logger, options: { transport?: Transport } = {}): Promise<App> {
  if (config.STORE !== "sqlite") throw new Error("STORE=trino is not available yet; use STORE=sqlite");
  if (config.KAFKA_BROKERS) throw new Error("KAFKA_BROKERS is set, but the Kafka transport is not available yet");
  const lakehouse = new SqliteLakehouse(config.DATA_DIR);
  await lakehouse.init();
  const state = new StateStore(join(config.DATA_DIR, "state.db"));
  const abandoned = state.closeAbandonedRuns();
  if (abandoned > 0) log.warn({ runs: abandoned }, "runs left open by a previous process marked failed");
  const transport = options.transport ?? new MemoryTransport();
  const metrics = new Metrics();
  const deps: StageDeps = { lakehouse, state, transport, log, events: new EventEmitter(), settings: settingsFrom(config), metrics };
  const supervisor = new Supervisor(STAGES, deps);
  metrics.watchStages(supervisor);
  // Until a chat is connected, notices for the admins go to the log.
  const admins = { notify: async (text: string) => void log.warn({ notice: text }, "admin notice") };

  const roles = new Set<string>(config.CARWATCH_ROLES);
  const streaming = STREAMING_ORDER.filter((s) => roles.has(s));
  const subs: Subscription[] = [];
  subs.push(
    await transport.subscribe(WINDOWS, "log", (batch) => {
      for (const { value: w } of batch) {
        log.info(
          { window: new Date(w.window_start).toISOString(), events: w.events, alerts: w.alert_events, incidents: w.new_incidents, rules: w.rule_counts },
          "window closed",
        );
      }
    }),
  );

  if (roles.has("generator")) {
    await supervisor.start("seed", {}, "start");
    await supervisor.waitFor("seed");
  }
  // Consumers first, so the first readings find someone listening.
  for (const name of [...streaming].reverse()) await supervisor.start(name, {}, "start");

  let scheduler: Scheduler | null = null;
  if (roles.has("scheduler")) {
    scheduler = new Scheduler(
      [
        { job: compactionJob, schedule: config.COMPACTION_SCHEDULE },
        { job: retentionJob, schedule: config.RETENTION_SCHEDULE },
        { job: watchdogJob(), schedule: config.WATCHDOG_SCHEDULE },
      ],
      { lakehouse, supervisor, log, notifyAdmins: (t) => admins.notify(t), retentionDays: config.RETENTION_DAYS, now: Date.now },
      state,
      config.SCHEDULE_TIMEZONE,
      metrics,
    );
    scheduler.start();
  }

  let server: ServerType | null = null;
  let url: string | null = null;
  if (roles.has("http")) {
    const http = new Hono();
    http.route("/", healthRoutes({ lakehouse, supervisor, essentialStages: streaming }));
    http.route("/", metricsRoutes(metrics));
    url = await new Promise<string>((resolve, reject) => {
      server = serve({ fetch: http.fetch, hostname: config.HTTP_HOST, port: config.HTTP_PORT }, (info) =>
        resolve(`http://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}`),
      );
      server.once("error", reject);
    });
  }

  return {
    deps,
    supervisor,
    scheduler,
    metrics,
    url,
    async stop() {
      await scheduler?.stop();
      await supervisor.stopAll();
      for (const s of subs) await s.stop();
      await transport.close();
      if (server) await new Promise<void>((r) => server!.close(() => r()));
      await lakehouse.close();
      state.close();
    },
  };
}
