/**
 * A real Apache Kafka broker (KRaft, single node) for integration tests,
 * started through scripts/kafka/kafka.sh on a free loopback port. The jars
 * are fetched with mvn into ~/.cache/carwatch once (CARWATCH_CACHE moves it).
 *
 * Without Java (or without mvn and an empty cache) the Kafka suites are
 * skipped with a loud message, except when CI is set: then they fail.
 */
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describeWithService } from "./services.js";

const run = promisify(execFile);
export const KAFKA_SH = join(import.meta.dirname, "../../scripts/kafka/kafka.sh");

/** Why the broker cannot run here, or null when it can. */
export function kafkaUnavailable(): string | null {
  const java = spawnSync(process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin/java") : "java", ["-version"], { encoding: "utf8" });
  if (java.error || java.status !== 0) return "java (17 or newer) is not installed";
  const version = /version "(\d+)/.exec(java.stderr)?.[1];
  if (version && Number(version) < 17) return `java ${version} is too old (Kafka 4 needs 17 or newer)`;
  const cache = join(process.env.CARWATCH_CACHE ?? join(homedir(), ".cache/carwatch"), "kafka");
  const cached = existsSync(cache) && readdirSync(cache).some((v) => existsSync(join(cache, v, ".complete")));
  if (!cached && spawnSync("mvn", ["-v"]).status !== 0) return "mvn is not installed and no Kafka jars are cached";
  return null;
}

/**
 * `describe` for suites that need the broker: skipped (loudly) where it
 * cannot run, and failing instead of skipping on CI.
 */
export function describeKafka(name: string, fn: () => void): void {
  describeWithService(name, kafkaUnavailable(), "Install a JDK 17+ and Maven to run the Kafka integration tests.", fn);
}

export interface Broker {
  bootstrap: string;
  workdir: string;
  /** With `secureUser`: the SASL_SSL listener and the PEM file of the certificate it presents (its own CA). */
  secure?: { bootstrap: string; caFile: string };
  /** Graceful stop; `start` again keeps the port and the data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** kill -9 of the broker. */
  kill(): Promise<void>;
  /** Kills the broker and deletes its data. */
  destroy(): Promise<void>;
}

async function sh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run("bash", [KAFKA_SH, ...args], {
      maxBuffer: 16 * 2 ** 20,
      env: { ...process.env, KAFKA_HEAP_OPTS: process.env.KAFKA_HEAP_OPTS ?? "-Xms128m -Xmx384m", ...env },
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kafka.sh ${args[0]} failed: ${e.message}\n${e.stderr ?? ""}`);
  }
}

/**
 * Starts a fresh broker in a temp dir (fetching the jars first when the cache
 * is empty). `secureUser` ("name:password") also opens a SASL_SSL listener.
 */
export async function startBroker(options: { secureUser?: string } = {}): Promise<Broker> {
  const env = options.secureUser ? { KAFKA_SECURE_USER: options.secureUser } : {};
  const lastLine = (out: string) => out.trim().split("\n").pop()!;
  // The free port kafka.sh picks is only free when picked: another broker starting at the same moment, or a
  // client's outgoing connection, can take it before the JVM binds. Then start over in a fresh dir.
  let workdir = "";
  let bootstrap = "";
  for (let attempt = 1; ; attempt++) {
    workdir = mkdtempSync(join(tmpdir(), "carwatch-kafka-"));
    try {
      bootstrap = lastLine(await sh(["start", workdir], env));
      break;
    } catch (err) {
      await sh(["kill", workdir]).catch(() => undefined);
      rmSync(workdir, { recursive: true, force: true });
      if (attempt >= 3) throw err;
      console.warn(`kafka broker did not start (attempt ${attempt}), trying again: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  if (!/^127\.0\.0\.1:\d+$/.test(bootstrap)) throw new Error(`kafka.sh start printed "${bootstrap}", not a bootstrap address`);
  return {
    bootstrap,
    workdir,
    secure: options.secureUser
      ? { bootstrap: readFileSync(join(workdir, "secure.bootstrap"), "utf8").trim(), caFile: join(workdir, "tls", "ca.pem") }
      : undefined,
    stop: async () => void (await sh(["stop", workdir])),
    start: async () => {
      // While the broker is down, clients reconnecting to its loopback port can briefly hold that very port
      // (a TCP self-connect from the ephemeral range), so the bind may fail once: try again.
      let again = "";
      for (let attempt = 1; ; attempt++) {
        try {
          again = lastLine(await sh(["start", workdir], env));
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
      if (again !== bootstrap) throw new Error(`broker came back on ${again}, not ${bootstrap}`);
    },
    kill: async () => void (await sh(["kill", workdir])),
    destroy: async () => {
      await sh(["kill", workdir]).catch(() => undefined);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/** A topic and group prefix of its own for each test, so tests never see each other's messages. */
export function randomPrefix(): string {
  return `t${randomBytes(4).toString("hex")}.`;
}
