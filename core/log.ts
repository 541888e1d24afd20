import { type Logger, pino } from "pino";
import { SECRET_VARIABLES } from "./config.js";

export type { Logger };

/**
 * Paths pino blanks wherever they appear in a log object, so a token or key
 * passed along by mistake never reaches the log.
 */
// Every secret variable, also where a config object is logged whole; and the generic names clients use.
const REDACT = [
  "token",
  "*.token",
  "apiKey",
  "*.apiKey",
  "password",
  "*.password",
  "sasl.password",
  "*.sasl.password",
  ...SECRET_VARIABLES.flatMap((v) => [v, `*.${v}`]),
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: undefined }, destination);
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
