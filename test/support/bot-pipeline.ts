import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { settingsFrom } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { silentLogger } from "../../core/log.js";
import type { StageDeps } from "../../pipeline/stage.js";
import { STAGES } from "../../pipeline/stages/index.js";
import { SqliteLakehouse } from "../../pipeline/stores/sqlite/lakehouse.js";
import { StateStore } from "../../pipeline/stores/state.js";
import { Supervisor } from "../../pipeline/supervisor.js";
import { MemoryTransport } from "../../pipeline/transport/memory.js";
import { createRegistry, type Registry } from "../../tools/index.js";
import { OpsState } from "../../tools/ops-state.js";
import { RoleBook } from "../../tools/roles.js";

export const ADMIN = 1001;
export const OPERATOR = 1002;
export const VIEWER = 1003;
export const STRANGER = 1004;

/** First reading's time on the generator's virtual clock. */
export const GEN_START = Date.parse("2025-01-01T00:00:00Z");

export interface BotPipeline {
  dir: string;
  lakehouse: SqliteLakehouse;
  state: StateStore;
  transport: MemoryTransport;
  supervisor: Supervisor;
  deps: StageDeps;
  ops: OpsState;
  roles: RoleBook;
  registry: Registry;
  /** Fixed "now" of the tools: after the generated readings, so "last 1h" covers them. */
  now: number;
  close(): Promise<void>;
}

/** The real pipeline pieces, built as app.ts builds them, in a temporary directory. */
export async function botPipeline(env: Record<string, string> = {}): Promise<BotPipeline> {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-bot-"));
  const config = loadConfig(
    { DATA_DIR: dir, TELEGRAM_ADMINS: String(ADMIN), TELEGRAM_OPERATORS: String(OPERATOR), TELEGRAM_VIEWERS: String(VIEWER), WATERMARK_SECONDS: "0", ...env },
    "/nonexistent/.env",
  );
  const lakehouse = new SqliteLakehouse(config.DATA_DIR);
  await lakehouse.init();
  const state = new StateStore(join(dir, "state.db"));
  const transport = new MemoryTransport();
  const deps: StageDeps = { lakehouse, state, transport, log: silentLogger, events: new EventEmitter(), settings: settingsFrom(config) };
  const supervisor = new Supervisor(STAGES, deps);
  const ops = new OpsState(state);
  const roles = RoleBook.fromConfig(config);
  const p: BotPipeline = {
    dir,
    lakehouse,
    state,
    transport,
    supervisor,
    deps,
    ops,
    roles,
    now: GEN_START + 30 * 60_000,
    registry: null as unknown as Registry,
    async close() {
      await supervisor.stopAll();
      await transport.close();
      await lakehouse.close();
      state.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  p.registry = createRegistry({ supervisor, lakehouse, ops, roles, thresholds: deps.settings.thresholds, clock: () => p.now, log: silentLogger });
  return p;
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
