import { settingsFrom } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { silentLogger } from "../../core/log.js";
import { seededRuleTable } from "../../pipeline/stages/rule-runtime.js";
import { connection } from "../../state/connection.js";
import { OpsState } from "../../state/ops-state.js";
import { NoticeFeed } from "../../tools/feed.js";
import { createRegistry, type Registry } from "../../tools/index.js";
import type { ToolContext } from "../../tools/registry.js";
import { RoleBook } from "../../tools/roles.js";
import { createPipeline, type TestPipeline } from "./pipeline.js";

export const ADMIN = 1001;
export const OPERATOR = 1002;
export const VIEWER = 1003;
export const STRANGER = 1004;

/** First reading's time on the generator's virtual clock. */
export const GEN_START = Date.parse("2025-01-01T00:00:00Z");

export interface BotPipeline extends TestPipeline {
  ops: OpsState;
  roles: RoleBook;
  registry: Registry;
  /** Digests and incident notices, for bots and consoles started on this pipeline. */
  feed: NoticeFeed;
  /** Fixed "now" of the tools: after the generated readings, so "last 1h" covers them. */
  now: number;
}

/**
 * The real pipeline pieces (test/support/pipeline.ts) with the registry the bot, agent and console use.
 * With `dir`, on another pipeline's files: a second carwatch process on the same DATA_DIR.
 */
export async function botPipeline(env: Record<string, string> = {}, dir?: string): Promise<BotPipeline> {
  const config = loadConfig(
    // EVENT_MAX_AGE_DAYS: the drive is dated 2025-01-01 (GEN_START).
    {
      TELEGRAM_ADMINS: String(ADMIN),
      TELEGRAM_OPERATORS: String(OPERATOR),
      TELEGRAM_VIEWERS: String(VIEWER),
      WATERMARK_SECONDS: "0",
      EVENT_MAX_AGE_DAYS: "3650",
      // The tests' drives keep the first wave's anomalies only, as their expectations were written for.
      ANOMALY_HARSH_BRAKING_RATE: "0",
      ANOMALY_STUCK_SENSOR_RATE: "0",
      ANOMALY_QUIET_CAR_RATE: "0",
      ANOMALY_ENGINE_DRIFT_RATE: "0",
      ...env,
    },
    "/nonexistent/.env",
  );
  const base = await createPipeline({ settings: settingsFrom(config), dir });
  const ops = new OpsState(base.state);
  const roles = RoleBook.fromConfig(config);
  const p: BotPipeline = { ...base, ops, roles, now: GEN_START + 30 * 60_000, registry: null as unknown as Registry, feed: null as unknown as NoticeFeed };
  p.registry = registryFor(p);
  p.feed = new NoticeFeed({ transport: base.transport, ops, rules: seededRuleTable(base.deps), roles: p.registry, log: silentLogger, clock: () => p.now });
  return p;
}

/** A registry over the pipeline's pieces, on its clock; `extra`: what a test adds (a chart store, dashboards). */
export function registryFor(p: BotPipeline, extra: Partial<ToolContext> = {}): Registry {
  return createRegistry({
    supervisor: p.supervisor,
    lakehouse: p.lakehouse,
    ops: p.ops,
    roles: p.roles,
    rules: seededRuleTable(p.deps),
    clock: () => p.now,
    log: silentLogger,
    ...extra,
  });
}

/** Seeds the dimensions and starts the streaming stages (consumers first); the generator is left to the test. */
export async function startConsumers(p: BotPipeline): Promise<void> {
  await p.supervisor.start("seed", {}, "start");
  await p.supervisor.waitFor("seed");
  for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s, {}, "start");
}

/** Generates `events` readings on a virtual clock (10 per simulated second, so windows close) with many anomalies, and waits until every stage caught up. */
export async function generate(p: BotPipeline, events: number, seed = 7): Promise<void> {
  await p.supervisor.start("generator", {
    clock: "virtual",
    rate: 0,
    maxEvents: events,
    seed,
    startTime: GEN_START,
    virtualRate: 10,
    anomalies: { speeding: 0.02, highRpm: 0.01, wrongGear: 0.01, malformed: 0.01 },
  });
  await p.supervisor.waitFor("generator");
  await p.transport.whenIdle();
}

/** A read of the state database by SQL (stage runs, silences, subscriptions): the truth an eval or a test checks an answer against. */
export function stateSql<T = Record<string, unknown>>(p: BotPipeline, sql: string, ...params: unknown[]): T[] {
  return p.state[connection].prepare(sql).all(...params) as T[];
}
