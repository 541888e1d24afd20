import type { Worker } from "node:worker_threads";
import { StoreError } from "../../../core/errors.js";
import type { QueryOptions, QueryResult } from "../lakehouse.js";
import { tsWorker } from "./worker-thread.js";

type Reply = ({ id: number; ok: true } & QueryResult) | { id: number; ok: false; message: string };

/** One read-only query worker; replaced whenever a query overruns its time limit. */
export class QueryRunner {
  private worker: Worker | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly workerData: { mainPath: string; attach: Record<string, string> }) {}

  /** Queries run one at a time: a read-only chat query is not worth a second connection's memory. */
  run(sql: string, options: QueryOptions): Promise<QueryResult> {
    const result = this.queue.then(() => this.runNow(sql, options));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private runNow(sql: string, { maxRows, timeoutMs }: QueryOptions): Promise<QueryResult> {
    const worker = (this.worker ??= tsWorker(new URL("./query-worker.ts", import.meta.url), this.workerData));
    const id = this.nextId++;
    return new Promise<QueryResult>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
      };
      const onMessage = (r: Reply) => {
        if (r.id !== id) return;
        done();
        if (r.ok) resolve({ columns: r.columns, rows: r.rows, truncated: r.truncated, elapsedMs: r.elapsedMs });
        else reject(new StoreError(r.message));
      };
      const onError = (err: Error) => {
        done();
        this.worker = null;
        reject(new StoreError(`query worker failed: ${err.message}`, { cause: err, retriable: true }));
      };
      const timer = setTimeout(() => {
        done();
        this.worker = null;
        void worker.terminate();
        reject(new StoreError(`the query ran longer than ${timeoutMs} ms and was stopped`));
      }, timeoutMs);
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.postMessage({ id, sql, maxRows });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}
