import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../core/log.js";
import { STAGES } from "../../pipeline/stages/index.js";
import type { PipelineSettings, StageDefinition, StageDeps } from "../../pipeline/stage.js";
import { SqliteLakehouse } from "../../pipeline/stores/sqlite/lakehouse.js";
import { StateStore } from "../../pipeline/stores/state.js";
import { Supervisor } from "../../pipeline/supervisor.js";
import { MemoryTransport } from "../../pipeline/transport/memory.js";

export const TEST_SETTINGS: PipelineSettings = {
  fleetSize: 20,
  generatorRate: 0,
  thresholds: { speedLimit: 120, rpmLimit: 6000 },
  watermarkMs: 10_000,
  incidentGapMs: 60_000,
  anomalies: { speeding: 0.01, highRpm: 0.005, wrongGear: 0.005, malformed: 0.01 },
};

export interface TestPipeline {
  dir: string;
  lakehouse: SqliteLakehouse;
  state: StateStore;
  transport: MemoryTransport;
  supervisor: Supervisor;
  deps: StageDeps;
  count(table: string, where?: string): number;
  close(): Promise<void>;
}

/** A real embedded pipeline (SQLite files in a fresh temp dir, in-process bus). */
export async function createPipeline(
  options: { dir?: string; settings?: Partial<PipelineSettings>; stages?: readonly StageDefinition[]; capacity?: number } = {},
): Promise<TestPipeline> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "carwatch-test-"));
  const lakehouse = new SqliteLakehouse(dir);
  await lakehouse.init();
  const state = new StateStore(join(dir, "state.db"));
  const transport = new MemoryTransport(options.capacity);
  const deps: StageDeps = {
    lakehouse,
    state,
    transport,
    log: silentLogger,
    events: new EventEmitter(),
    settings: { ...TEST_SETTINGS, ...options.settings },
  };
  const supervisor = new Supervisor(options.stages ?? STAGES, deps, { initialMs: 10, maxMs: 100 });
  return {
    dir,
    lakehouse,
    state,
    transport,
    supervisor,
    deps,
    count: (table, where = "1=1") => (lakehouse.selectSync<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)[0]!.n),
    async close() {
      await supervisor.stopAll();
      await transport.close();
      await lakehouse.close();
      state.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
