import { startApp } from "./app.js";
import { type Config, loadConfig, redactedConfig } from "./core/config.js";
import { CarwatchError } from "./core/errors.js";
import { createLogger } from "./core/log.js";

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  // A bad configuration stops start-up with the variable's name and what it expects.
  console.error(`carwatch: configuration error: ${(err as Error).message}`);
  process.exit(2);
}
const log = createLogger(config.LOG_LEVEL);
log.info({ config: redactedConfig(config) }, "starting carwatch");

try {
  const app = await startApp(config, log);
  if (app.url) log.info(`carwatch is up: ${app.url}/healthz`);
  if (app.consoleUrl) {
    const token = config.CONSOLE_TOKEN ? "?token=<CONSOLE_TOKEN>" : "";
    log.info({ console: app.consoleUrl, dashboards: `${app.url}/dashboards` }, `open the console: ${app.consoleUrl}${token}`);
    // Also as plain lines on stderr, for people reading the terminal rather than the JSON log on stdout.
    process.stderr.write(`\n  carwatch console:    ${app.consoleUrl}${token}\n  carwatch dashboards: ${app.url}/dashboards\n\n`);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining stages and closing databases");
    // Never hang on exit: a drain that takes too long is cut short (nothing accepted is lost: raw rows replay).
    const timer = setTimeout(() => {
      log.error("shutdown took longer than 10 s; exiting");
      process.exit(1);
    }, 10_000);
    timer.unref();
    await app.stop();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
} catch (err) {
  log.fatal({ err }, err instanceof CarwatchError ? err.message : "start-up failed");
  process.exit(1);
}
