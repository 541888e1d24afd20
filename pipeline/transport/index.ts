import { readFileSync } from "node:fs";
import type { Config } from "../../core/config.js";
import type { Logger } from "../../core/log.js";
import type { Metrics } from "../../core/metrics.js";
import type { KafkaTransportOptions } from "./kafka.js";
import { MemoryTransport } from "./memory.js";
import type { Transport } from "./transport.js";

/** Hears the Kafka transport's phase timings (see KafkaTransportOptions.onTiming). */
export type KafkaTiming = NonNullable<KafkaTransportOptions["onTiming"]>;

/**
 * The transport the configuration asks for: Kafka when KAFKA_BROKERS is set
 * (connected, topics created, leaders live), otherwise the in-process bus.
 * `onTiming` hears the Kafka phase timings beside the metrics.
 */
export async function createTransport(config: Config, log: Logger, metrics?: Metrics, onTiming?: KafkaTiming): Promise<Transport> {
  if (!config.KAFKA_BROKERS) return new MemoryTransport();
  // kafkajs loads only when configured.
  const { KafkaTransport } = await import("./kafka.js");
  const transport = new KafkaTransport({
    brokers: config.KAFKA_BROKERS,
    log,
    clientId: config.KAFKA_CLIENT_ID,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    partitions: config.KAFKA_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    ssl: config.KAFKA_SSL_CA_FILE ? { ca: [readFileSync(config.KAFKA_SSL_CA_FILE, "utf8")] } : config.KAFKA_SSL,
    sasl: config.KAFKA_SASL_MECHANISM
      ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! }
      : undefined,
    instanceId: config.KAFKA_INSTANCE_ID,
    onTiming:
      (metrics || onTiming) &&
      ((phase, ms, group) => {
        metrics?.kafkaPhaseSeconds.observe(group ? { phase, group } : { phase }, ms / 1000);
        onTiming?.(phase, ms, group);
      }),
  });
  try {
    await transport.connect();
  } catch (err) {
    await transport.close();
    throw err;
  }
  log.info(
    {
      brokers: config.KAFKA_BROKERS,
      prefix: config.KAFKA_TOPIC_PREFIX,
      partitions: config.KAFKA_PARTITIONS,
      tls: config.KAFKA_SSL || !!config.KAFKA_SSL_CA_FILE,
      sasl: config.KAFKA_SASL_MECHANISM ?? "none",
    },
    "Kafka transport connected",
  );
  return transport;
}
