import { existsSync, readFileSync } from "node:fs";
import { parse as parseDotenv } from "dotenv";
import { validate as validCron } from "node-cron";
import { z } from "zod";
import { mqttTopicsSchema, mqttUrlSchema } from "../pipeline/mqtt-topics.js";
import { ConfigError } from "./errors.js";

export const ROLES = ["bot", "scheduler", "http", "generator", "enrich", "alert", "aggregate"] as const;
export type ProcessRole = (typeof ROLES)[number];

/** Comma-separated Telegram ids (user or chat). */
const idList = z
  .string()
  .default("")
  .transform((s, ctx) => {
    const parts = s
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const ids: number[] = [];
    for (const p of parts) {
      if (!/^-?\d+$/.test(p)) {
        ctx.addIssue({ code: "custom", message: `a comma-separated list of numeric ids; "${p}" is not one` });
        return z.NEVER;
      }
      ids.push(Number(p));
    }
    return ids;
  });

const optionalUrl = z.url().optional();
const positiveInt = (def: number) => z.coerce.number().int().positive().default(def);
const nonNegative = (def: number) => z.coerce.number().nonnegative().default(def);
const share = (def: number) => z.coerce.number().min(0).max(1).default(def);
const cron = (def: string) =>
  z
    .string()
    .default(def)
    .refine((e) => validCron(e), 'a cron expression such as "0 3 * * *" (minute hour day month weekday, optional seconds first)');
const timezone = z
  .string()
  .default("UTC")
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, "an IANA time zone such as UTC or Europe/Berlin");

/** The environment carwatch reads. Names are the public interface (see README). */
const envSchema = z.object({
  TELEGRAM_BOT_TOKEN: z
    .string()
    .regex(/^\d+:[\w-]+$/, "a bot token like 123456:ABC-def")
    .optional(),
  TELEGRAM_API_ROOT: z.url().default("https://api.telegram.org"),
  // Webhook mode (several processes with the bot role): Telegram POSTs to this URL, which must reach /telegram/webhook here.
  TELEGRAM_WEBHOOK_URL: z.url().optional(),
  TELEGRAM_WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,256}$/, "16 to 256 letters, digits, _ or -")
    .optional(),
  TELEGRAM_ADMINS: idList,
  TELEGRAM_OPERATORS: idList,
  TELEGRAM_VIEWERS: idList,
  DIGEST_CHATS: idList,
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: z.string().min(1).default("gpt-4o-mini"),
  // A small local model needs seconds per step: the turn's limit and the tokens per model call are the operator's to set.
  AGENT_TURN_SECONDS: positiveInt(60),
  AGENT_MAX_TOKENS: positiveInt(512),
  KAFKA_BROKERS: z
    .string()
    .optional()
    .transform((s) =>
      s
        ? s
            .split(",")
            .map((b) => b.trim())
            .filter(Boolean)
        : undefined,
    )
    .pipe(z.array(z.string().regex(/^[\w.-]+:\d+$/, "host:port")).optional()),
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[\w.-]*$/, "letters, digits, dot, dash or underscore")
    .default(""),
  KAFKA_PARTITIONS: positiveInt(6),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(-1).default(-1),
  KAFKA_CLIENT_ID: z.string().min(1).default("carwatch"),
  // With enrich and alert in one process, a reading is consumed once: alert scores inside enrich's round, and
  // samples-enriched is produced (for outside consumers) in the round's transaction, or not at all.
  KAFKA_FUSE: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
  KAFKA_PRODUCE_ENRICHED: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
  // A stable name per process (a worker's): a restart then fences the transaction its predecessor left open at once.
  KAFKA_INSTANCE_ID: z
    .string()
    .regex(/^[\w.-]+$/, "letters, digits, dot, dash or underscore")
    .optional(),
  // Reaching a secured cluster: TLS, SASL, or both (SASL_SSL, the usual for hosted Kafka).
  KAFKA_SSL: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  KAFKA_SSL_CA_FILE: z
    .string()
    .refine((f) => existsSync(f), "a readable PEM file of the CA certificates that signed the brokers' certificates")
    .optional(),
  KAFKA_SASL_MECHANISM: z.enum(["plain", "scram-sha-256", "scram-sha-512"]).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  // MQTT ingestion (pipeline/mqtt-ingest.ts), on when MQTT_URL is set. The client id is fixed so that the
  // broker keeps the session (and queues readings) across restarts: every process needs its own, or all
  // subscribe to a shared $share/<group>/… filter to split the load (docs/mqtt-ingest.md).
  MQTT_URL: mqttUrlSchema.optional(),
  MQTT_USERNAME: z.string().min(1).optional(),
  MQTT_PASSWORD: z.string().min(1).optional(),
  MQTT_TOPICS: mqttTopicsSchema,
  MQTT_CLIENT_ID: z.string().min(1).default("carwatch-ingest"),
  STORE: z.enum(["sqlite", "trino"]).default("sqlite"),
  DATA_DIR: z.string().min(1).default("./data"),
  TRINO_URL: optionalUrl,
  TRINO_USER: z.string().min(1).default("carwatch"),
  TRINO_PASSWORD: z.string().optional(),
  TRINO_CATALOG: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "a catalog name (lower-case identifier)")
    .default("iceberg"),
  // Chat queries run as this user: give it read-only access in Trino (a second wall behind the SQL guard).
  TRINO_QUERY_USER: z.string().min(1).optional(),
  TRINO_FLUSH_MS: nonNegative(1000),
  TRINO_MAX_ROWS_PER_STATEMENT: positiveInt(2000),
  ICEBERG_RETENTION: z
    .string()
    .regex(/^\d+(s|m|h|d)$/, "a duration such as 7d, 12h or 0s")
    .default("7d"),
  SUPERSET_URL: optionalUrl,
  SUPERSET_USER: z.string().optional(),
  SUPERSET_PASSWORD: z.string().optional(),
  HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Required for /console and /dashboards when HTTP_HOST is not a loopback address. */
  CONSOLE_TOKEN: z.string().min(16, "at least 16 characters (e.g. openssl rand -hex 16)").optional(),
  CARWATCH_ADMIN_TOKEN: z.string().min(16, "at least 16 characters (e.g. openssl rand -hex 16)").optional(),
  CARWATCH_ROLES: z
    .string()
    .default("all")
    .transform((s) =>
      s
        .split(",")
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(["all", ...ROLES])).min(1, "at least one role"))
    .transform((roles): ProcessRole[] => (roles.includes("all") ? [...ROLES] : (roles as ProcessRole[]))),
  // How often each process publishes its stages' status to state.db; three missed heartbeats make it stale.
  STAGE_HEARTBEAT_MS: z.coerce.number().int().min(50).default(5000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // Pipeline tuning (carwatch's own; documented in the README).
  FLEET_SIZE: positiveInt(50),
  GENERATOR_RATE: nonNegative(20),
  SPEED_LIMIT: z.coerce.number().positive().default(120),
  RPM_LIMIT: z.coerce.number().positive().default(6000),
  WATERMARK_SECONDS: nonNegative(10),
  EVENT_MAX_FUTURE_SECONDS: nonNegative(120),
  EVENT_MAX_AGE_DAYS: z.coerce.number().positive().default(7),
  INCIDENT_GAP_SECONDS: z.coerce.number().positive().default(60),
  ANOMALY_SPEEDING_RATE: share(0.005),
  ANOMALY_RPM_RATE: share(0.003),
  ANOMALY_GEAR_RATE: share(0.003),
  MALFORMED_RATE: share(0.002),
  // The detectors' anomalies in the simulator (a share of readings starting one): what the seeded detector rules catch.
  ANOMALY_HARSH_BRAKING_RATE: share(0.002),
  ANOMALY_STUCK_SENSOR_RATE: share(0.001),
  ANOMALY_QUIET_CAR_RATE: share(0.0005),
  ANOMALY_ENGINE_DRIFT_RATE: share(0.0005),
  // Maintenance schedules (node-cron expressions, in SCHEDULE_TIMEZONE).
  SCHEDULE_TIMEZONE: timezone,
  COMPACTION_SCHEDULE: cron("0 3 * * *"),
  RETENTION_SCHEDULE: cron("30 3 * * *"),
  WATCHDOG_SCHEDULE: cron("* * * * *"),
  RETENTION_DAYS: z.coerce.number().positive().default(7),
  AUDIT_RETENTION_DAYS: z.coerce.number().positive().default(90),
});

export type Env = z.infer<typeof envSchema>;
export type Config = Env;

/** Every variable carwatch reads (what docker-compose.yml may set for it). */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape) as readonly (keyof Env)[];

/** Variables whose values never appear in logs or error messages. */
export const SECRET_VARIABLES = [
  "TELEGRAM_BOT_TOKEN",
  "OPENAI_API_KEY",
  "TRINO_PASSWORD",
  "SUPERSET_PASSWORD",
  "CONSOLE_TOKEN",
  "CARWATCH_ADMIN_TOKEN",
  "KAFKA_SASL_PASSWORD",
  "MQTT_PASSWORD",
] as const;

/**
 * Parses the environment once at start-up. A `.env` file (if present) fills
 * variables the environment does not set. Throws a ConfigError naming the
 * first bad variable and what it expects; the value itself is not repeated,
 * since it may be a secret.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, dotenvPath = ".env"): Config {
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  // An empty variable means "not set", as in most twelve-factor apps.
  for (const k of Object.keys(merged)) if (merged[k] === "") delete merged[k];
  const result = envSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? "environment"), issue.message);
  }
  if (result.data.TELEGRAM_WEBHOOK_URL && !result.data.TELEGRAM_WEBHOOK_SECRET) {
    throw new ConfigError("TELEGRAM_WEBHOOK_SECRET", "required with TELEGRAM_WEBHOOK_URL, so that only Telegram can post updates");
  }
  const sasl = result.data.KAFKA_SASL_MECHANISM;
  for (const name of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const) {
    if (sasl && !result.data[name]) throw new ConfigError(name, `required with KAFKA_SASL_MECHANISM=${sasl}`);
    if (!sasl && result.data[name]) throw new ConfigError("KAFKA_SASL_MECHANISM", `plain, scram-sha-256 or scram-sha-512: required with ${name}`);
  }
  // A password alone names no account: brokers check the user name and password together.
  if (result.data.MQTT_PASSWORD && !result.data.MQTT_USERNAME) throw new ConfigError("MQTT_USERNAME", "required with MQTT_PASSWORD");
  if (result.data.STORE === "trino" && !result.data.TRINO_URL) {
    throw new ConfigError("TRINO_URL", "required when STORE=trino");
  }
  return result.data;
}

/** The configuration with secrets replaced, safe to log. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const k of SECRET_VARIABLES) if (out[k] !== undefined) out[k] = "[set]";
  return out;
}
