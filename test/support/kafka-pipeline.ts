import { join } from "node:path";
import { type Logger, silentLogger } from "../../core/log.js";
import type { PipelineSettings } from "../../pipeline/stage.js";
import { FusedHop } from "../../pipeline/stages/fused-hop.js";
import { KafkaTransport, type KafkaTransportOptions } from "../../pipeline/transport/kafka.js";
import { ALERTS, ENRICHED, SENSORS } from "../../pipeline/transport/topics.js";
import { type Child, spawnChild } from "./child.js";
import { createPipeline, type TestPipeline } from "./pipeline.js";

export interface KafkaPipeline extends TestPipeline<KafkaTransport> {
  bootstrap: string;
  prefix: string;
  /** Enrich and alert fuse where they share a process (here, and in the workers spawned for this pipeline). */
  fused: boolean;
  produceEnriched: boolean;
  /** Resolves once enrich, alert and aggregate have committed everything (upstream first). */
  drained(timeoutMs?: number): Promise<void>;
}

/** The real pipeline (test/support/pipeline.ts) over a real Kafka broker, topics under `prefix`. */
export async function createKafkaPipeline(options: {
  bootstrap: string;
  prefix: string;
  dir?: string;
  settings?: Partial<PipelineSettings>;
  partitions?: number;
  log?: Logger;
  /** Transport tuning (benchmarks). */
  kafka?: Partial<KafkaTransportOptions>;
  /** KAFKA_FUSE (default true) and KAFKA_PRODUCE_ENRICHED (default true), here and in spawned workers. */
  fused?: boolean;
  produceEnriched?: boolean;
}): Promise<KafkaPipeline> {
  const fused = options.fused ?? true;
  const produceEnriched = options.produceEnriched ?? true;
  const transport = new KafkaTransport({
    brokers: [options.bootstrap],
    log: options.log ?? silentLogger,
    topicPrefix: options.prefix,
    partitions: options.partitions ?? 6,
    clientId: "carwatch-test",
    ...options.kafka,
  });
  await transport.connect();
  const p = await createPipeline({
    dir: options.dir,
    settings: options.settings,
    log: options.log,
    transport,
    fused: fused ? new FusedHop(produceEnriched) : undefined,
  });
  return {
    ...p,
    bootstrap: options.bootstrap,
    prefix: options.prefix,
    fused,
    produceEnriched,
    // Fused, the alert group never reads samples-enriched: enrich's commit is after the readings were scored.
    drained: (timeoutMs = 60_000) =>
      transport.whenCaughtUp([[SENSORS, "enrich"], ...(fused ? [] : [[ENRICHED, "alert"] as const]), [ALERTS, "aggregate"]], { timeoutMs }),
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

/**
 * A carwatch worker process (test/support/kafka-worker.ts: startApp configured
 * from the environment, as main.ts) running `roles` on the pipeline's topics
 * and DATA_DIR with the pipeline's settings. Its stdout says "ready" once its
 * stages consume. `env` adds to its environment.
 */
export function spawnWorker(
  p: KafkaPipeline,
  name: string,
  roles: readonly string[],
  nodeArgs: readonly string[] = [],
  env: Record<string, string> = {},
): Child {
  const s = p.deps.settings;
  return spawnChild([...nodeArgs, "--import", "tsx", join(import.meta.dirname, "kafka-worker.ts")], {
    ...process.env,
    KAFKA_BROKERS: p.bootstrap,
    KAFKA_TOPIC_PREFIX: p.prefix,
    KAFKA_PARTITIONS: String(p.transport.partitions(SENSORS)),
    KAFKA_CLIENT_ID: name,
    KAFKA_INSTANCE_ID: name,
    KAFKA_FUSE: String(p.fused),
    KAFKA_PRODUCE_ENRICHED: String(p.produceEnriched),
    CARWATCH_ROLES: roles.join(","),
    DATA_DIR: p.dir,
    LOG_LEVEL: "error",
    FLEET_SIZE: String(s.fleetSize),
    SPEED_LIMIT: String(s.thresholds.speedLimit),
    RPM_LIMIT: String(s.thresholds.rpmLimit),
    WATERMARK_SECONDS: String(s.watermarkMs / 1000),
    EVENT_MAX_FUTURE_SECONDS: String(s.eventTime.maxFutureMs / 1000),
    EVENT_MAX_AGE_DAYS: String(s.eventTime.maxAgeMs / 86_400_000),
    INCIDENT_GAP_SECONDS: String(s.incidentGapMs / 1000),
    ANOMALY_SPEEDING_RATE: String(s.anomalies.speeding),
    ANOMALY_RPM_RATE: String(s.anomalies.highRpm),
    ANOMALY_GEAR_RATE: String(s.anomalies.wrongGear),
    MALFORMED_RATE: String(s.anomalies.malformed),
    ANOMALY_HARSH_BRAKING_RATE: String(s.anomalies.harshBraking ?? 0),
    ANOMALY_STUCK_SENSOR_RATE: String(s.anomalies.stuckSensor ?? 0),
    ANOMALY_QUIET_CAR_RATE: String(s.anomalies.quietCar ?? 0),
    ANOMALY_ENGINE_DRIFT_RATE: String(s.anomalies.engineDrift ?? 0),
    ...env,
  });
}
