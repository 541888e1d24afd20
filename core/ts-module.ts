import { type ChildProcess, fork } from "node:child_process";
import { Worker } from "node:worker_threads";

/**
 * Starts TypeScript modules in a worker thread or a child process. Neither
 * inherits the parent's module hooks (tsx under `npm start`, vite under
 * vitest), so tsx is registered in them before the file is imported.
 */
// Resolved here: an eval worker resolves bare names from the working directory, which may be anywhere.
const TSX_API = import.meta.resolve("tsx/esm/api");
const TSX_LOADER = import.meta.resolve("tsx");

export function tsWorker(url: URL, workerData: unknown, options: { resourceLimits?: import("node:worker_threads").ResourceLimits } = {}): Worker {
  const bootstrap = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData, ...options });
}

/** A child process running a module, with an IPC channel; `execArgv` adds node flags (a memory cap). */
export function tsFork(url: URL, execArgv: string[] = []): ChildProcess {
  const loader = url.pathname.endsWith(".ts") ? ["--import", TSX_LOADER] : [];
  return fork(url, [], { execArgv: [...loader, ...execArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}
