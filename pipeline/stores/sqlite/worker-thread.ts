import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread from a TypeScript file. A worker does not inherit
 * the parent's module hooks (tsx under `npm start`, vite under vitest), so a
 * tiny bootstrap registers tsx in the worker before importing the file.
 */
export function tsWorker(url: URL, workerData: unknown): Worker {
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
