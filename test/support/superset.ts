/**
 * A real Apache Superset for integration tests, started through
 * scripts/superset/superset.sh on a free loopback port: PyPI's
 * apache-superset in a virtual environment cached in ~/.cache/carwatch once,
 * its metadata in SQLite under a fresh workdir, one admin.
 *
 * Where it cannot run the suites are skipped with a loud message, except
 * when CI is set: then they fail.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const SUPERSET_SH = join(import.meta.dirname, "../../scripts/superset/superset.sh");
const VERSION = "6.1.0";

/** Why Superset cannot run here, or null when it can. */
export function supersetUnavailable(): string | null {
  const venv = join(process.env.CARWATCH_CACHE ?? join(homedir(), ".cache/carwatch"), "superset", VERSION, ".installed");
  if (existsSync(venv)) return null;
  const py = spawnSync(process.env.SUPERSET_PYTHON ?? "python3", ["-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
  if (py.status !== 0) return "no python3 with the venv module to install Superset into";
  const [major, minor] = py.stdout.trim().split(".").map(Number) as [number, number];
  if (major !== 3 || minor < 10 || minor > 12) return `Superset ${VERSION} needs Python 3.10–3.12, python3 is ${py.stdout.trim()} (set SUPERSET_PYTHON)`;
  return null;
}

export interface SupersetServer {
  url: string;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** Starts a fresh Superset (empty metadata, admin `admin`). */
export async function startSuperset(): Promise<SupersetServer> {
  const workdir = mkdtempSync(join(tmpdir(), "carwatch-superset-"));
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, SUPERSET_VERSION: VERSION, SUPERSET_ADMIN_USER: "admin", SUPERSET_ADMIN_PASSWORD: password };
  const sh = async (...args: string[]) => {
    try {
      return (await run("bash", [SUPERSET_SH, ...args], { env, maxBuffer: 16 * 2 ** 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`superset.sh ${args[0]} failed: ${e.message}\n${e.stderr ?? ""}`);
    }
  };
  const url = (await sh("start", workdir)).trim().split("\n").pop()!;
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`superset.sh start printed "${url}", not a URL`);
  return {
    url,
    user: "admin",
    password,
    async stop() {
      await sh("stop", workdir).catch(() => undefined);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}
