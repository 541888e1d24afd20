import { type ChildProcess, fork } from "node:child_process";
import { type ResourceLimits, Worker } from "node:worker_threads";

/**
 * Starts one of carwatch's modules in a worker thread or a child process.
 * Callers name it as they would import it, `new URL("./x.js", import.meta.url)`.
 * Compiled (dist/, `npm start`), that file is beside them and runs as is, with
 * no tsx installed. From the TypeScript sources (tsx, vitest) it is the `./x.ts`
 * beside them, and neither a worker nor a child inherits the parent's module
 * hooks, so tsx is registered in them before the file is imported.
 */
const FROM_SOURCES = import.meta.url.endsWith(".ts");
const source = (url: URL): URL => (FROM_SOURCES ? new URL(url.href.replace(/\.js$/, ".ts")) : url);

export function tsWorker(url: URL, workerData: unknown, options: { resourceLimits?: ResourceLimits } = {}): Worker {
  if (!FROM_SOURCES) return new Worker(url, { workerData, ...options });
  // Resolved here: an eval worker resolves bare names from the working directory, which may be anywhere.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source(url).href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData, ...options });
}

/** A child process running a module, with an IPC channel; `execArgv` adds node flags (a memory cap). */
export function tsFork(url: URL, execArgv: string[] = []): ChildProcess {
  const loader = FROM_SOURCES ? ["--import", import.meta.resolve("tsx")] : [];
  return fork(source(url), [], { execArgv: [...loader, ...execArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}
