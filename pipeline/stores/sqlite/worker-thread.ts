import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread from a TypeScript file. Workers do not inherit a
 * loader under every runner (vitest's forks do not), so tsx is named here.
 */
export function tsWorker(url: URL, workerData: unknown): Worker {
  return new Worker(url, { workerData, execArgv: ["--import", "tsx"] });
}
