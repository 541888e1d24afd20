import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger, type Logger } from "../../core/log.js";
import { STAGES } from "../../pipeline/stages/index.js";
import type { PipelineSettings, StageDeps } from "../../pipeline/stage.js";
import { SqliteLakehouse } from "../../pipeline/stores/sqlite/lakehouse.js";
import { StateStore } from "../../pipeline/stores/state.js";
import { Supervisor } from "../../pipeline/supervisor.js";
import { KafkaTransport, type KafkaTransportOptions } from "../../pipeline/transport/kafka.js";
import { ALERTS, ENRICHED, SENSORS } from "../../pipeline/transport/topics.js";
import { TEST_SETTINGS } from "./pipeline.js";

export interface KafkaPipeline {
  dir: string;
  prefix: string;
  lakehouse: SqliteLakehouse;
  state: StateStore;
  transport: KafkaTransport;
  supervisor: Supervisor;
  deps: StageDeps;
  count(table: string, where?: string): number;
  /** Resolves once enrich, alert and aggregate have committed everything (upstream first). */
  drained(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The real pipeline (SQLite files in a temp dir) over a real Kafka broker, topics under `prefix`. */
export async function createKafkaPipeline(options: {
  bootstrap: string;
  prefix: string;
  dir?: string;
  settings?: Partial<PipelineSettings>;
  partitions?: number;
  log?: Logger;
  /** Transport tuning (benchmarks). */
  kafka?: Partial<KafkaTransportOptions>;
}): Promise<KafkaPipeline> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "carwatch-kafka-test-"));
  const lakehouse = new SqliteLakehouse(dir);
  await lakehouse.init();
  const state = new StateStore(join(dir, "state.db"));
  const transport = new KafkaTransport({
    brokers: [options.bootstrap],
    log: options.log ?? silentLogger,
    topicPrefix: options.prefix,
    partitions: options.partitions ?? 6,
    clientId: "carwatch-test",
    ...options.kafka,
  });
  await transport.connect();
  const deps: StageDeps = {
    lakehouse,
    state,
    transport,
    log: options.log ?? silentLogger,
    events: new EventEmitter(),
    settings: { ...TEST_SETTINGS, ...options.settings },
  };
  const supervisor = new Supervisor(STAGES, deps, { initialMs: 10, maxMs: 100 });
  return {
    dir,
    prefix: options.prefix,
    lakehouse,
    state,
    transport,
    supervisor,
    deps,
    count: (table, where = "1=1") => lakehouse.selectSync<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)[0]!.n,
    drained: (timeoutMs = 60_000) =>
      transport.whenCaughtUp(
        [
          [SENSORS, "enrich"],
          [ENRICHED, "alert"],
          [ALERTS, "aggregate"],
        ],
        { timeoutMs },
      ),
    async close() {
      await supervisor.stopAll();
      await transport.close();
      await lakehouse.close();
      state.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once every group has `members` members, all with partitions assigned, and is stable. */
export async function groupsSettled(transport: KafkaTransport, groups: readonly string[], members: number, timeoutMs = 60_000): Promise<void> {
  const admin = transport.client.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { groups: described } = await admin.describeGroups(groups.map((g) => transport.groupId(g)));
      const ok = described.every((g) => g.state === "Stable" && g.members.length === members && g.members.every((m) => m.memberAssignment.length > 8));
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`groups not settled: ${described.map((g) => `${g.groupId} ${g.state} ${g.members.length}`).join(", ")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}
