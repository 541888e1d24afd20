/**
 * A real Trino with its Iceberg connector for integration tests, started
 * through scripts/trino/trino.sh on a free loopback port (server and plugin
 * fetched with mvn into ~/.cache/carwatch once; Trino needs Java 24+), over
 * the catalog users run: Iceberg's JDBC catalog in a PostgreSQL of its own
 * (Debian's package) and the files in an S3 bucket (S3Proxy, from Maven Central).
 *
 * Where it cannot run the suites are skipped with a loud message, except
 * when CI is set: then they fail.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describeWithService } from "./services.js";

const run = promisify(execFile);
const TRINO_SH = join(import.meta.dirname, "../../scripts/trino/trino.sh");

/** Why Trino cannot run here, or null when it can. */
export function trinoUnavailable(): string | null {
  const jvms = existsSync("/usr/lib/jvm") ? readdirSync("/usr/lib/jvm") : [];
  const java24 = process.env.TRINO_JAVA_HOME || jvms.some((d) => /(?:^|-)(2[4-9]|[3-9]\d)(?:\.|-|$)/.test(d.replace(/^temurin-/, "")));
  if (!java24) return "no Java 24+ (set TRINO_JAVA_HOME, or install a JDK 24 or newer under /usr/lib/jvm)";
  const postgres = process.env.PG_BIN || (existsSync("/usr/lib/postgresql") && readdirSync("/usr/lib/postgresql").length > 0);
  if (!postgres) return "no PostgreSQL server for the Iceberg catalog (apt-get install postgresql)";
  const cache = join(process.env.CARWATCH_CACHE ?? join(homedir(), ".cache/carwatch"), "trino");
  const cached = existsSync(cache) && readdirSync(cache).length > 0;
  if (!cached && spawnSync("mvn", ["-v"]).status !== 0) return "mvn is not installed and no Trino is cached";
  return null;
}

export function describeTrino(name: string, fn: () => void): void {
  describeWithService(name, trinoUnavailable(), "Install a JDK 24+ and Maven to run the Trino integration tests.", fn);
}

export interface TrinoServer {
  url: string;
  /** The Iceberg tables the JDBC catalog's PostgreSQL holds, as "namespace.table". */
  catalogTables(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts a fresh single-node Trino (Iceberg catalog "iceberg"; users carwatch = all, reader = read-only). */
export async function startTrino(): Promise<TrinoServer> {
  const workdir = mkdtempSync(join(tmpdir(), "carwatch-trino-"));
  const sh = async (...args: string[]) => {
    try {
      return (await run("bash", [TRINO_SH, ...args], { maxBuffer: 16 * 2 ** 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`trino.sh ${args[0]} failed: ${e.message}\n${e.stderr ?? ""}`);
    }
  };
  const url = (await sh("start", workdir)).trim().split("\n").pop()!;
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`trino.sh start printed "${url}", not a URL`);
  return {
    url,
    async catalogTables() {
      const port = readFileSync(join(workdir, "postgres/port"), "utf8").trim();
      const sql = "SELECT table_namespace || '.' || table_name FROM iceberg_tables ORDER BY 1";
      const psql = await run("psql", ["-X", "-tA", "-h", "127.0.0.1", "-p", port, "-U", "carwatch", "-d", "iceberg", "-c", sql], {
        env: { ...process.env, PGPASSWORD: "carwatch-test" },
      });
      return psql.stdout.split("\n").filter(Boolean);
    },
    async stop() {
      await sh("stop", workdir).catch(() => undefined);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}
