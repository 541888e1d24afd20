/**
 * Runs users' read-only queries for one engine, inside the query process
 * (process.ts). Every row passes the result budget here, where it is
 * produced; this thread's memory is capped by the process that starts it.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { InputError, StoreError } from "../../../core/errors.js";
import { TrinoClient } from "../trino/client.js";
import { RESULT_LIMITS, ResultBudget, tooLarge } from "./limits.js";
import type { QueryEngine, QueryReply, QueryRequest } from "./protocol.js";

type Runner = (req: QueryRequest) => Promise<Omit<QueryReply & { ok: true }, "id" | "ok">>;

function sqliteRunner(engine: Extract<QueryEngine, { kind: "sqlite" }>): Runner {
  const db = new Database(engine.mainPath, { readonly: true, fileMustExist: true });
  for (const [schema, file] of Object.entries(engine.attach)) db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file);
  // A second wall behind the read-only open: no statement may write.
  db.pragma("query_only = ON");
  return async ({ sql, params, maxRows }) => {
    const started = performance.now();
    try {
      const stmt = db.prepare(sql);
      if (!stmt.reader) throw new InputError("only statements that return rows can run here");
      const columns = stmt.columns().map((c) => c.name);
      const budget = new ResultBudget();
      const rows: unknown[][] = [];
      let truncated = false;
      for (const row of stmt
        .raw(true)
        .safeIntegers(true)
        .iterate(...params) as IterableIterator<unknown[]>) {
        if (rows.length === maxRows) {
          truncated = true;
          break;
        }
        rows.push(budget.add(row));
      }
      return { columns, rows, truncated, elapsedMs: performance.now() - started };
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? "");
      if (code === "SQLITE_NOMEM" || code === "SQLITE_TOOBIG") throw tooLarge(`the query needed more than ${RESULT_LIMITS.memoryMb} MiB`);
      throw err;
    }
  };
}

function trinoRunner(engine: Extract<QueryEngine, { kind: "trino" }>): Runner {
  return async ({ sql, params, maxRows, timeoutMs }) => {
    // trino-client cannot bind: carwatch's own reads arrive with their parameters inlined.
    if (params.length > 0) throw new StoreError("the Trino query process takes SQL with its parameters inlined");
    const started = performance.now();
    // Trino stops the query itself at the deadline too, should this process be killed before it can cancel.
    const client = new TrinoClient({ ...engine.connection, session: { query_max_execution_time: `${Math.ceil(timeoutMs / 1000)}s` } });
    const budget = new ResultBudget();
    const r = await client.run(sql, { maxRows, timeoutMs, accept: (row) => budget.add(row) });
    return { columns: r.columns, rows: r.rows, truncated: r.truncated, elapsedMs: performance.now() - started };
  };
}

const engine = workerData as QueryEngine;
const run = engine.kind === "sqlite" ? sqliteRunner(engine) : trinoRunner(engine);
parentPort!.on("message", (req: QueryRequest) => {
  run(req).then(
    (r) => parentPort!.postMessage({ id: req.id, ok: true, ...r } satisfies QueryReply),
    (err: Error) => parentPort!.postMessage({ id: req.id, ok: false, message: err.message, input: err instanceof InputError } satisfies QueryReply),
  );
});
