import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, silentLogger } from "../../core/log.js";
import type { PipelineSettings, StageDefinition, StageDeps } from "../../pipeline/stage.js";
import type { FusedHop } from "../../pipeline/stages/fused-hop.js";
import { STAGES } from "../../pipeline/stages/index.js";
import { SqliteLakehouse } from "../../pipeline/stores/sqlite/lakehouse.js";
import { Supervisor } from "../../pipeline/supervisor.js";
import { MemoryTransport } from "../../pipeline/transport/memory.js";
import type { Transport } from "../../pipeline/transport/transport.js";
import { StateStore } from "../../state/store.js";

export const TEST_SETTINGS: PipelineSettings = {
  fleetSize: 20,
  generatorRate: 0,
  thresholds: { speedLimit: 120, rpmLimit: 6000 },
  watermarkMs: 10_000,
  // The tests' drives are dated in the past (fixed seeds and dates): a wide horizon.
  eventTime: { maxFutureMs: 120_000, maxAgeMs: 3650 * 86_400_000 },
  incidentGapMs: 60_000,
  anomalies: { speeding: 0.01, highRpm: 0.005, wrongGear: 0.005, malformed: 0.01 },
};

export interface TestPipeline<T extends Transport = MemoryTransport> {
  dir: string;
  lakehouse: SqliteLakehouse;
  state: StateStore;
  transport: T;
  supervisor: Supervisor;
  deps: StageDeps;
  count(table: string, where?: string): number;
  close(): Promise<void>;
}

interface PipelineOptions {
  dir?: string;
  settings?: Partial<PipelineSettings>;
  stages?: readonly StageDefinition[];
  capacity?: number;
  log?: Logger;
  /** Enrich and alert fused (Kafka). */
  fused?: FusedHop;
}

/** A real embedded pipeline (SQLite files in a fresh temp dir, in-process bus). */
export function createPipeline(options?: PipelineOptions): Promise<TestPipeline>;
/** The same pipeline on another transport (Kafka), which the pipeline closes with itself. */
export function createPipeline<T extends Transport>(options: PipelineOptions & { transport: T }): Promise<TestPipeline<T>>;
export async function createPipeline(options: PipelineOptions & { transport?: Transport } = {}): Promise<TestPipeline<Transport>> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "carwatch-test-"));
  const lakehouse = new SqliteLakehouse(dir);
  await lakehouse.init();
  const state = new StateStore(join(dir, "state.db"));
  const transport = options.transport ?? new MemoryTransport(options.capacity);
  const deps: StageDeps = {
    lakehouse,
    state,
    transport,
    log: options.log ?? silentLogger,
    events: new EventEmitter(),
    settings: { ...TEST_SETTINGS, ...options.settings },
    fused: options.fused,
  };
  const supervisor = new Supervisor(options.stages ?? STAGES, deps, { initialMs: 10, maxMs: 100 });
  return {
    dir,
    lakehouse,
    state,
    transport,
    supervisor,
    deps,
    count: (table, where = "1=1") => lakehouse.selectSync<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)[0]!.n,
    async close() {
      await supervisor.stopAll();
      await transport.close();
      await lakehouse.close();
      state.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
