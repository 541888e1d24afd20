/**
 * The query process: users' SQL runs here, never in carwatch's main process.
 * better-sqlite3 cannot interrupt a statement, so the parent SIGKILLs this
 * process at the deadline; the OS then ends the statement and releases its
 * locks. The query itself runs on a worker thread, which keeps this thread
 * free: when the parent dies, it kills this process at once instead of
 * leaving a runaway statement behind.
 */
import type { Worker } from "node:worker_threads";
import { tsWorker } from "../../../core/ts-module.js";
import { RESULT_LIMITS, tooLarge } from "./limits.js";
import type { QueryReply, ToQueryProcess, WorkRequest } from "./protocol.js";

const send = (m: QueryReply, then?: () => void) => process.send!(m, undefined, {}, then);
process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));

let worker: Worker | null = null;
let current: number | null = null;
process.on("message", (m: ToQueryProcess) => {
  if ("engine" in m) {
    worker = tsWorker(new URL("./worker.js", import.meta.url), m.engine, {
      resourceLimits: { maxOldGenerationSizeMb: RESULT_LIMITS.heapMb, maxYoungGenerationSizeMb: 16 },
    });
    worker.on("message", (r: QueryReply) => {
      current = null;
      send(r);
    });
    // Out of memory (or any crash): the query in hand is answered, then this process ends; the parent starts another.
    worker.on("error", (err) => {
      const oom = (err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY";
      const exit = () => process.exit(1);
      if (current === null) return exit();
      const message = oom ? tooLarge(`the query needed more than ${RESULT_LIMITS.memoryMb} MiB`).message : err.message;
      send({ id: current, ok: false, message, input: oom }, exit);
    });
    return;
  }
  current = (m as WorkRequest).id;
  worker!.postMessage(m);
});
