/**
 * A carwatch worker process for the scale-out tests: startApp with the
 * configuration from the environment (KAFKA_BROKERS, KAFKA_TOPIC_PREFIX,
 * CARWATCH_ROLES, DATA_DIR, ...), as main.ts does. Logs go to stderr; stdout
 * carries lines for the test: "ready", "progress <enrich in> <alert in>" as
 * batches are handled, and on SIGTERM "final <json totals>" after a clean stop.
 */
import { pino } from "pino";
import { startApp } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { createLogger } from "../../core/log.js";

const config = loadConfig(process.env, "/nonexistent/.env");
const log = createLogger(config.LOG_LEVEL, pino.destination(2));
const app = await startApp(config, log);
process.stdout.write("ready\n");

let last = "";
const report = () => {
  const t = app.supervisor.totals();
  const line = `progress ${t.enrich?.in ?? 0} ${t.alert?.in ?? 0}`;
  if (line !== last) process.stdout.write(`${(last = line)}\n`);
};
const timer = setInterval(report, 20);

process.once("SIGTERM", () => {
  clearInterval(timer);
  void app.stop().then(() => {
    report();
    process.stdout.write(`final ${JSON.stringify(app.supervisor.totals())}\n`);
    process.exit(0);
  });
});
