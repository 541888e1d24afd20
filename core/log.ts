import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Paths pino blanks wherever they appear in a log object, so a token or key
 * passed along by mistake never reaches the log.
 */
const REDACT = [
  "token",
  "*.token",
  "apiKey",
  "*.apiKey",
  "password",
  "*.password",
  "TELEGRAM_BOT_TOKEN",
  "*.TELEGRAM_BOT_TOKEN",
  "OPENAI_API_KEY",
  "*.OPENAI_API_KEY",
  "TRINO_PASSWORD",
  "*.TRINO_PASSWORD",
  "SUPERSET_PASSWORD",
  "*.SUPERSET_PASSWORD",
  "CONSOLE_TOKEN",
  "*.CONSOLE_TOKEN",
  "KAFKA_SASL_PASSWORD",
  "*.KAFKA_SASL_PASSWORD",
  "sasl.password",
  "*.sasl.password",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: undefined }, destination);
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
