/**
 * A real Eclipse Mosquitto MQTT broker for integration tests, started through
 * scripts/mqtt/mosquitto.sh on a free loopback port: one user (MQTT_USER /
 * MQTT_PASSWORD, default carwatch / carwatch-test), anonymous refused,
 * persistence in its temp dir (sessions and queued QoS 1 messages survive
 * `restart()`). The broker is Debian's `mosquitto` package (nothing fetched).
 *
 * Without mosquitto the MQTT suites are skipped with a loud message, except
 * when CI is set: then they fail.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { describeWithService } from "./services.js";

const run = promisify(execFile);
export const MOSQUITTO_SH = join(import.meta.dirname, "../../scripts/mqtt/mosquitto.sh");

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH or in the sbin dirs Debian uses (not on a normal user's PATH). */
function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  return null;
}

/** Why the broker cannot run here, or null when it can. */
export function mosquittoUnavailable(): string | null {
  const bin = process.env.MOSQUITTO_BIN;
  if (bin && !executable(bin)) return `MOSQUITTO_BIN=${bin} is not executable`;
  if (!bin && !findBinary("mosquitto")) return "mosquitto is not installed";
  if (!findBinary("mosquitto_passwd")) return "mosquitto_passwd is not installed";
  return null;
}

/**
 * `describe` for suites that need the broker: skipped (loudly) where it
 * cannot run, and failing instead of skipping on CI.
 */
export function describeMosquitto(name: string, fn: () => void): void {
  describeWithService(name, mosquittoUnavailable(), "apt-get install mosquitto mosquitto-clients to run the MQTT integration tests.", fn);
}

export interface Mosquitto {
  /** mqtt://127.0.0.1:PORT */
  url: string;
  username: string;
  password: string;
  /** The broker's workdir: mosquitto.conf, mosquitto.log, mosquitto.db. */
  dir: string;
  /** Graceful stop (the broker writes its persistence file) and deletes the dir. */
  stop(): Promise<void>;
  /** Graceful stop and start on the same port and data. */
  restart(): Promise<void>;
}

const DEFAULT_USER = "carwatch";
const DEFAULT_PASSWORD = "carwatch-test";

async function sh(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run("bash", [MOSQUITTO_SH, ...args], { maxBuffer: 4 * 2 ** 20, env: { ...process.env, ...env } });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`mosquitto.sh ${args[0]} failed: ${e.message}\n${e.stderr ?? ""}`);
  }
}

const lastLine = (out: string) => out.trim().split("\n").pop() ?? "";

/** Starts a fresh broker in a temp dir on a free loopback port. */
export async function startMosquitto(): Promise<Mosquitto> {
  const username = process.env.MQTT_USER ?? DEFAULT_USER;
  const password = process.env.MQTT_PASSWORD ?? DEFAULT_PASSWORD;
  const env = { MQTT_USER: username, MQTT_PASSWORD: password };
  // The free port the script picks is only free when picked: something else can bind it before the
  // broker does. Then start over in a fresh dir (a fresh port).
  let dir = "";
  let address = "";
  for (let attempt = 1; ; attempt++) {
    dir = mkdtempSync(join(tmpdir(), "carwatch-mosquitto-"));
    try {
      address = lastLine(await sh(["start", dir], env));
      break;
    } catch (err) {
      await sh(["kill", dir], env).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= 3) throw err;
      console.warn(`mosquitto did not start (attempt ${attempt}), trying again: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  if (!/^127\.0\.0\.1:\d+$/.test(address)) throw new Error(`mosquitto.sh start printed "${address}", not an address`);
  return {
    url: `mqtt://${address}`,
    username,
    password,
    dir,
    async stop() {
      await sh(["stop", dir], env).catch(() => sh(["kill", dir], env).catch(() => undefined));
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await sh(["stop", dir], env);
      // While the broker is down, a client reconnecting to its loopback port can briefly hold that very port
      // (a TCP self-connect from the ephemeral range), so the bind may fail once: try again.
      let again = "";
      for (let attempt = 1; ; attempt++) {
        try {
          again = lastLine(await sh(["start", dir], env));
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
      if (again !== address) throw new Error(`mosquitto came back on ${again}, not ${address}`);
    },
  };
}
