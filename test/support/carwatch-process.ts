import { join } from "node:path";
import { type Child, spawnChild } from "./child.js";

/**
 * carwatch itself (main.ts) as its own process. Nothing from the
 * developer's environment can point it elsewhere: no Telegram token, model
 * key, Kafka or MQTT unless `env` sets them.
 */
function spawnCarwatch(env: Record<string, string>): Child {
  return spawnChild(
    [
      ...(process.env.CARWATCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.CARWATCH_PROFILE_DIR}`] : []),
      "--import",
      "tsx",
      join(import.meta.dirname, "../../main.ts"),
    ],
    {
      ...process.env,
      HTTP_PORT: "0",
      LOG_LEVEL: "info",
      TELEGRAM_BOT_TOKEN: "",
      OPENAI_API_KEY: "",
      KAFKA_BROKERS: "",
      MQTT_URL: "",
      ...env,
    },
  );
}

/** carwatch resolved once its HTTP server is up. */
export async function startCarwatch(env: Record<string, string>): Promise<{ child: Child; url: string }> {
  const child = spawnCarwatch(env);
  const up = await child.line((l) => l.includes("carwatch is up"));
  return { child, url: /(http:\/\/[^"]+)\/healthz/.exec(up)![1]! };
}

/** carwatch without the http role (a worker), resolved once its stages run and it has published them to state.db. */
export async function startCarwatchWorker(env: Record<string, string>): Promise<Child> {
  const child = spawnCarwatch(env);
  await child.line((l) => l.includes("publishing stage status"));
  return child;
}
