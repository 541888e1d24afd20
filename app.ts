import { EventEmitter } from "node:events";
import { join } from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ChatAgent } from "./agent/agent.js";
import { type RunningBot, startBot } from "./bot/start.js";
import type { Config } from "./core/config.js";
import type { Logger } from "./core/log.js";
import { Metrics } from "./core/metrics.js";
import { ReadingIntake } from "./pipeline/intake.js";
import type { MqttIngest } from "./pipeline/mqtt-ingest.js";
import type { PipelineSettings, StageDeps } from "./pipeline/stage.js";
import { FusedHop } from "./pipeline/stages/fused-hop.js";
import { STAGES, STREAMING_ORDER } from "./pipeline/stages/index.js";
import { seededRuleTable } from "./pipeline/stages/rule-runtime.js";
import { createLakehouse } from "./pipeline/stores/index.js";
import { Supervisor } from "./pipeline/supervisor.js";
import { createTransport, type KafkaTiming } from "./pipeline/transport/index.js";
import { WINDOWS } from "./pipeline/transport/topics.js";
import type { Subscription, Transport } from "./pipeline/transport/transport.js";
import { compactionJob, jobCalls, retentionJob, watchdogJob } from "./scheduler/jobs.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { IncidentNotices } from "./state/incident-notices.js";
import { OpsState } from "./state/ops-state.js";
import { StateStore } from "./state/store.js";
import { TokenBook } from "./tools/api-tokens.js";
import { ChartStore } from "./tools/chart-store.js";
import { NoticeFeed } from "./tools/feed.js";
import { createRegistry, type Registry } from "./tools/index.js";
import { RoleBook } from "./tools/roles.js";
import { trinoSqlalchemyUri } from "./tools/superset-publish.js";
import { webAccess } from "./web/access.js";
import { apiRoutes } from "./web/api.js";
import { type RunningConsole, startConsole } from "./web/console.js";
import { consoleRoutes } from "./web/console-routes.js";
import { dashboardRoutes } from "./web/dashboards.js";
import { healthRoutes } from "./web/health.js";
import { mountMcp } from "./web/mcp.js";
import { metricsRoutes } from "./web/metrics.js";

export interface App {
  deps: StageDeps;
  supervisor: Supervisor;
  /** The one way in to every operation: the bot, the agent and the console call it. */
  registry: Registry;
  agent: ChatAgent | null;
  scheduler: Scheduler | null;
  metrics: Metrics;
  /** The HTTP server's address once listening. */
  url: string | null;
  /** The local web console's bot (on /console), when this process runs both the bot and http roles. */
  console: RunningConsole | null;
  /** The console's address to open, when it runs (with CONSOLE_TOKEN set, the first visit adds ?token=…). */
  consoleUrl: string | null;
  /** MQTT ingestion (MQTT_URL), with its status: connected, messages, accepted, rejected. */
  mqtt: MqttIngest | null;
  stop(): Promise<void>;
}

export function settingsFrom(config: Config): PipelineSettings {
  return {
    fleetSize: config.FLEET_SIZE,
    generatorRate: config.GENERATOR_RATE,
    thresholds: { speedLimit: config.SPEED_LIMIT, rpmLimit: config.RPM_LIMIT },
    watermarkMs: config.WATERMARK_SECONDS * 1000,
    eventTime: { maxFutureMs: config.EVENT_MAX_FUTURE_SECONDS * 1000, maxAgeMs: config.EVENT_MAX_AGE_DAYS * 86_400_000 },
    incidentGapMs: config.INCIDENT_GAP_SECONDS * 1000,
    anomalies: {
      speeding: config.ANOMALY_SPEEDING_RATE,
      highRpm: config.ANOMALY_RPM_RATE,
      wrongGear: config.ANOMALY_GEAR_RATE,
      malformed: config.MALFORMED_RATE,
      harshBraking: config.ANOMALY_HARSH_BRAKING_RATE,
      stuckSensor: config.ANOMALY_STUCK_SENSOR_RATE,
      quietCar: config.ANOMALY_QUIET_CAR_RATE,
      engineDrift: config.ANOMALY_ENGINE_DRIFT_RATE,
    },
  };
}

/**
 * Builds and starts one carwatch process: stores, transport, the stages its
 * roles name, and the HTTP server.
 */
export async function startApp(
  config: Config,
  log: Logger,
  /** `onKafkaTiming`: hears the Kafka transport's phase timings beside the metrics (bench:kafka's worker processes). */
  options: { transport?: Transport; onKafkaTiming?: KafkaTiming } = {},
): Promise<App> {
  const lakehouse = await createLakehouse(config, log);
  const state = new StateStore(join(config.DATA_DIR, "state.db"));
  const abandoned = state.closeAbandonedRuns();
  if (abandoned > 0) log.warn({ runs: abandoned }, "runs left open by a previous process marked failed");
  const metrics = new Metrics();
  const transport = options.transport ?? (await createTransport(config, log, metrics, options.onKafkaTiming));
  const fused = transport.kind === "kafka" && config.KAFKA_FUSE && config.CARWATCH_ROLES.includes("enrich") && config.CARWATCH_ROLES.includes("alert");
  const deps: StageDeps = {
    lakehouse,
    state,
    transport,
    log,
    events: new EventEmitter(),
    settings: settingsFrom(config),
    metrics,
    fused: fused ? new FusedHop(config.KAFKA_PRODUCE_ENRICHED) : undefined,
  };
  const supervisor = new Supervisor(STAGES, deps, {}, { roles: config.CARWATCH_ROLES });
  metrics.watchStages(supervisor);
  // What starts below, stopped in reverse by stop(); also when start-up fails part way (a busy port after the
  // stages started), so a failed start leaves nothing running.
  const subs: Subscription[] = [];
  const closeStreams: (() => void)[] = [];
  let bot: RunningBot | null = null;
  let consoleBot: RunningConsole | null = null;
  let scheduler: Scheduler | null = null;
  let mqtt: MqttIngest | null = null;
  let server: ServerType | null = null;
  const stop = async () => {
    // Users' queries first: a chat waiting on one must not hold up the rest of the shutdown.
    await lakehouse.closeQueries();
    // No more readings in: what MQTT holds is stored and acknowledged while the stages still run.
    await mqtt?.stop();
    await bot?.stop();
    for (const close of closeStreams) close();
    await consoleBot?.stop();
    await scheduler?.stop();
    await supervisor.cluster.leave();
    await supervisor.stopAll();
    for (const s of subs) await s.stop();
    await transport.close();
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    await lakehouse.close();
    state.close();
  };
  try {
    const roles = new Set<string>(config.CARWATCH_ROLES);
    // Checked before anything starts: off loopback, the console (an admin's chat) needs CONSOLE_TOKEN.
    const access = roles.has("http") ? webAccess(config) : null;
    // Until a chat is connected, notices for the admins go to the log.
    const admins: { notify: (text: string) => Promise<void> } = { notify: async (text) => void log.warn({ notice: text }, "admin notice") };
    if (roles.has("scheduler")) {
      scheduler = new Scheduler(
        [
          { job: compactionJob, schedule: config.COMPACTION_SCHEDULE },
          { job: retentionJob, schedule: config.RETENTION_SCHEDULE },
          { job: watchdogJob(), schedule: config.WATCHDOG_SCHEDULE },
        ],
        {
          // Jobs are the scheduler's tool calls, through the registry (made below, before any job can run).
          call: (tool, input, options) => jobCalls(registry)(tool, input, options),
          log,
          notifyAdmins: (t) => admins.notify(t),
          now: Date.now,
        },
        state,
        config.SCHEDULE_TIMEZONE,
        metrics,
      );
    }
    const ops = new OpsState(state);
    const tokens = new TokenBook(state, config.CARWATCH_ADMIN_TOKEN);
    const charts = new ChartStore();
    let url: string | null = null;
    const dashboards = {
      baseUrl: () => url,
      superset: config.SUPERSET_URL ? { url: config.SUPERSET_URL, user: config.SUPERSET_USER, password: config.SUPERSET_PASSWORD } : null,
      // Superset reads the lakehouse as the query user: read-only in Trino.
      lakehouseUri:
        config.STORE === "trino" && config.TRINO_URL
          ? trinoSqlalchemyUri(config.TRINO_URL, config.TRINO_QUERY_USER ?? config.TRINO_USER, config.TRINO_CATALOG)
          : null,
    };
    const rules = seededRuleTable(deps);
    const registry = createRegistry({
      supervisor,
      lakehouse,
      ops,
      roles: RoleBook.fromConfig(config, tokens),
      tokens,
      events: deps.events,
      rules,
      clock: Date.now,
      watermarkMs: deps.settings.watermarkMs,
      log,
      metrics,
      jobs: scheduler,
      retention: { readingsDays: config.RETENTION_DAYS, auditDays: config.AUDIT_RETENTION_DAYS },
      charts,
      dashboards,
    });
    // LangChain, MQTT, Kafka and Trino clients load only when configured: each costs start-up time and memory.
    const agent = config.OPENAI_API_KEY
      ? new (await import("./agent/agent.js")).ChatAgent({
          registry,
          dialect: lakehouse.dialect,
          state,
          model: { apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL },
          limits: { turnTimeoutMs: config.AGENT_TURN_SECONDS * 1000, maxTokens: config.AGENT_MAX_TOKENS },
          log,
        })
      : null;

    const streaming = STREAMING_ORDER.filter((s) => roles.has(s));
    subs.push(
      await transport.subscribe(
        WINDOWS,
        "log",
        (batch) => {
          for (const { value: w } of batch) {
            log.info(
              { window: new Date(w.window_start).toISOString(), events: w.events, alerts: w.alert_events, incidents: w.new_incidents, rules: w.rule_counts },
              "window closed",
            );
          }
        },
        { from: "latest" },
      ),
    );

    // Digests and incident notices for the bot and the console; they subscribe before the stages start, so they see the first ones.
    const feed = new NoticeFeed({ transport, ops, rules, roles: registry, log, notices: new IncidentNotices(state) });
    if (roles.has("bot") && config.TELEGRAM_BOT_TOKEN) {
      bot = await startBot({ config, log, registry, ops, state, feed, agent, metrics, charts });
      admins.notify = (text) => bot!.notifyAdmins(text);
    }
    // The local console: the same bot, a second instance talking to the /console page (with or without Telegram).
    if (roles.has("bot") && roles.has("http")) {
      consoleBot = await startConsole({ registry, ops, feed, log, agent, metrics, charts });
      const telegram = admins.notify;
      admins.notify = async (text) => {
        await consoleBot!.notify(text);
        if (bot) await telegram(text);
        else log.warn({ notice: text }, "admin notice");
      };
    }

    // Seeding is idempotent: every process that produces or enriches readings makes sure the dimensions exist.
    if (roles.has("generator") || roles.has("enrich")) {
      await supervisor.start("seed", {}, "start");
      await supervisor.waitFor("seed");
    }
    // Consumers first, so the first readings find someone listening.
    for (const name of [...streaming].reverse()) await supervisor.start(name, {}, "start");

    scheduler?.start();
    // Every process shows its stages to the others through state.db, and serves their start and stop requests.
    supervisor.cluster.join(config.STAGE_HEARTBEAT_MS);

    // Readings are taken where they can be stored at once (enrich here) or handed to Kafka: over HTTP and MQTT, by one intake.
    const intake = roles.has("enrich") || transport.kind === "kafka" ? new ReadingIntake(deps) : null;
    mqtt = config.MQTT_URL ? (await import("./pipeline/mqtt-ingest.js")).startMqttIngest(config, { intake, lakehouse, log }) : null;

    if (roles.has("http")) {
      const http = new Hono();
      // What no route answered itself: logged through pino with the request, answered without details.
      http.onError((err, c) => {
        if (err instanceof HTTPException) return err.getResponse();
        log.error({ err, method: c.req.method, path: c.req.path }, "HTTP request failed");
        return c.json({ error: "internal error; it has been logged" }, 500);
      });
      http.route(
        "/",
        healthRoutes({
          probeStore: async () => {
            await lakehouse.select("SELECT 1 AS one");
            return lakehouse.dialect;
          },
          stageState: (name) => supervisor.status(name).state,
          peers: (now) => supervisor.cluster.peers(now),
          essentialStages: streaming,
        }),
      );
      http.route("/", metricsRoutes(metrics));
      const webhook = bot?.webhook;
      // Telegram's updates are small: a larger body is refused before it is read.
      if (webhook) http.post("/telegram/webhook", bodyLimit({ maxSize: 1 << 20 }), (c) => webhook(c.req.raw));
      if (consoleBot) {
        const c = consoleRoutes(consoleBot, access!);
        http.route("/", c.app);
        closeStreams.push(c.close);
      }
      http.route("/", apiRoutes({ registry, tokens, intake, log }));
      closeStreams.push(mountMcp(http, { registry, tokens }));
      const d = dashboardRoutes({ registry, access: access!, log });
      http.route("/", d.app);
      closeStreams.push(d.close);
      http.get("/", (c) => c.redirect(consoleBot ? "/console" : "/dashboards"));
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
      registry,
      agent,
      scheduler,
      metrics,
      url,
      console: consoleBot,
      consoleUrl: consoleBot && url ? `${url}/console` : null,
      mqtt,
      stop,
    };
  } catch (err) {
    await stop().catch((e: unknown) => log.error({ err: e }, "stopping what had started failed"));
    throw err;
  }
}
