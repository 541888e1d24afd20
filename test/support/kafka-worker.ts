/**
 * A carwatch worker process for the scale-out tests: startApp with the
 * configuration from the environment (KAFKA_BROKERS, KAFKA_TOPIC_PREFIX,
 * CARWATCH_ROLES, DATA_DIR, ...), as main.ts does. Logs go to stderr; stdout
 * carries lines for the test: "ready", "progress <enrich in> <alert in>" as
 * batches are handled, and on SIGTERM "final <json totals>" after a clean stop.
 * With CARWATCH_TIMINGS_FILE it also writes its Kafka phase timings there at
 * that stop, as JSON [epoch ms, group, phase, ms][] (bench:kafka's split).
 */
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import { startApp } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { createLogger } from "../../core/log.js";

const config = loadConfig(process.env, "/nonexistent/.env");
const log = createLogger(config.LOG_LEVEL, pino.destination(2));
const timingsFile = process.env.CARWATCH_TIMINGS_FILE;
const timings: [number, string, string, number][] = [];
const app = await startApp(config, log, {
  onKafkaTiming: timingsFile ? (phase, ms, group) => void timings.push([Date.now(), group ?? "", phase, ms]) : undefined,
});
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
    if (timingsFile) writeFileSync(timingsFile, JSON.stringify(timings));
    process.stdout.write(`final ${JSON.stringify(app.supervisor.totals())}\n`);
    process.exit(0);
  });
});
