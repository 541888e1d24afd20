import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread from a TypeScript file. A worker does not inherit
 * the parent's module hooks (tsx under `npm start`, vite under vitest), so a
 * tiny bootstrap registers tsx in the worker before importing the file.
 */
// Resolved here: an eval worker resolves bare names from the working directory, which may be anywhere.
const TSX_API = import.meta.resolve("tsx/esm/api");

export function tsWorker(url: URL, workerData: unknown): Worker {
  const bootstrap = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
