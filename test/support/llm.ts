/**
 * A real local model (llama-server + Qwen2.5-Coder GGUF) for tests and evals,
 * started through scripts/llm/llm.sh on a free loopback port. The first
 * start fetches and builds everything into ~/.cache/carwatch/llm (minutes).
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describeWithService } from "./services.js";

const run = promisify(execFile);
export const LLM_SH = join(import.meta.dirname, "../../scripts/llm/llm.sh");
export const LOCAL_MODELS = ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] as const;
export type LocalModel = (typeof LOCAL_MODELS)[number];

export interface LocalLlm {
  /** OpenAI-compatible base URL, http://127.0.0.1:PORT/v1. */
  baseURL: string;
  model: LocalModel;
  workdir: string;
  /** Stops the server and deletes its workdir (log included). */
  stop(): Promise<void>;
}

/** Why the local model cannot run here (no llama-server built, and no toolchain to build it), or null when it can. */
export function llmUnavailable(model: LocalModel): string | null {
  const check = spawnSync("bash", [LLM_SH, "check"], { env: { ...process.env, LLM_MODEL: model }, encoding: "utf8" });
  return check.status === 0 ? null : check.stderr.trim().replace(/^llm\.sh: /, "") || `llm.sh check exited with ${check.status}`;
}

/** `describe` for suites on the real local model: skipped (loudly) where it cannot be built, failing instead on CI. */
export function describeLocalLlm(name: string, model: LocalModel, fn: () => void): void {
  describeWithService(
    name,
    llmUnavailable(model),
    "Install cmake and a C++ compiler (apt-get install cmake build-essential), then run `bash scripts/llm/llm.sh fetch`.",
    fn,
  );
}

async function sh(args: string[], model: LocalModel): Promise<string> {
  try {
    const { stdout } = await run("bash", [LLM_SH, ...args], { env: { ...process.env, LLM_MODEL: model }, maxBuffer: 2 ** 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`llm.sh ${args[0]} failed: ${e.message}\n${e.stderr ?? ""}`);
  }
}

export async function startLocalLlm(model: LocalModel = "qwen2.5-coder-1.5b"): Promise<LocalLlm> {
  const workdir = mkdtempSync(join(tmpdir(), "carwatch-llm-"));
  let baseURL: string;
  try {
    baseURL = (await sh(["start", workdir], model)).trim().split("\n").pop()!;
  } catch (err) {
    await sh(["stop", workdir], model).catch(() => undefined);
    rmSync(workdir, { recursive: true, force: true });
    throw err;
  }
  if (!/^http:\/\/127\.0\.0\.1:\d+\/v1$/.test(baseURL)) throw new Error(`llm.sh start printed "${baseURL}", not a base URL`);
  return {
    baseURL,
    model,
    workdir,
    stop: async () => {
      await sh(["stop", workdir], model);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}
