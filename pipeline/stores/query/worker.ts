/**
 * Runs users' read-only queries for one engine, inside the query process
 * (process.ts). Every row passes the result budget here, where it is
 * produced; this thread's memory is capped by the process that starts it.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { InputError, StoreError } from "../../../core/errors.js";
import { BACKTEST_COLUMNS, Backtest, type BacktestResult, backtestReading } from "../../rules/backtest.js";
import { fromSqliteTime, toSqliteTime } from "../sqlite/values.js";
import { TrinoClient } from "../trino/client.js";
import { parseTimestamp, timestampLiteral } from "../trino/literals.js";
import { RESULT_LIMITS, ResultBudget, tooLarge } from "./limits.js";
import type { BacktestWork, QueryEngine, QueryReply, QueryRequest } from "./protocol.js";

type Runner = {
  query(req: QueryRequest): Promise<Omit<Extract<QueryReply, { columns: string[] }>, "id" | "ok">>;
  backtest(req: BacktestWork): Promise<BacktestResult>;
};

/** The readings of a backtest's range in the order the alert stage's rules judge a replay: cars_enriched's key order. */
const backtestSql = (table: string, from: string, to: string) =>
  `SELECT ${BACKTEST_COLUMNS.join(", ")} FROM ${table} WHERE event_time >= ${from} AND event_time < ${to} ORDER BY event_time, event_id`;

/** SQLite's time text to ms, parsing each second once: a backtest reads a million of them, ten or so per second. */
function sqliteTimes(): (v: unknown) => number {
  let second = "";
  let base = 0;
  return (v) => {
    const text = v as string;
    const prefix = text.slice(0, 19);
    if (prefix !== second) {
      second = prefix;
      base = fromSqliteTime(prefix);
    }
    // Stored with three decimals always (toSqliteTime).
    return base + Number(text.slice(20));
  };
}

function sqliteRunner(engine: Extract<QueryEngine, { kind: "sqlite" }>): Runner {
  const db = new Database(engine.mainPath, { readonly: true, fileMustExist: true });
  for (const [schema, file] of Object.entries(engine.attach)) db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file);
  // A second wall behind the read-only open: no statement may write.
  db.pragma("query_only = ON");
  const query: Runner["query"] = async ({ sql, params, maxRows }) => {
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
  const readings = db.prepare(backtestSql("telemetry.cars_enriched", "?", "?")).raw(true);
  const backtest: Runner["backtest"] = async ({ backtest: req }) => {
    const started = performance.now();
    const run = new Backtest(req);
    const toMillis = sqliteTimes();
    // Streamed: one row at a time from the key's own order, never the range in memory.
    for (const row of readings.iterate(toSqliteTime(req.fromMs), toSqliteTime(req.toMs)) as IterableIterator<unknown[]>)
      run.add(backtestReading(row, toMillis));
    return run.finish(performance.now() - started);
  };
  return { query, backtest };
}

function trinoRunner(engine: Extract<QueryEngine, { kind: "trino" }>): Runner {
  const client = (timeoutMs: number) => new TrinoClient({ ...engine.connection, session: { query_max_execution_time: `${Math.ceil(timeoutMs / 1000)}s` } });
  const query: Runner["query"] = async ({ sql, params, maxRows, timeoutMs }) => {
    // trino-client cannot bind: carwatch's own reads arrive with their parameters inlined.
    if (params.length > 0) throw new StoreError("the Trino query process takes SQL with its parameters inlined");
    const started = performance.now();
    // Trino stops the query itself at the deadline too, should this process be killed before it can cancel.
    const budget = new ResultBudget();
    const r = await client(timeoutMs).run(sql, { maxRows, timeoutMs, accept: (row) => budget.add(row) });
    return { columns: r.columns, rows: r.rows, truncated: r.truncated, elapsedMs: performance.now() - started };
  };
  const backtest: Runner["backtest"] = async ({ backtest: req, timeoutMs }) => {
    const started = performance.now();
    const run = new Backtest(req);
    const sql = backtestSql("telemetry.cars_enriched", timestampLiteral(req.fromMs), timestampLiteral(req.toMs));
    // Page by page as the client fetches them; nothing kept.
    await client(timeoutMs).run(sql, { timeoutMs, accept: (row) => void run.add(backtestReading(row, (v) => parseTimestamp(String(v)))) });
    return run.finish(performance.now() - started);
  };
  return { query, backtest };
}

const engine = workerData as QueryEngine;
const runner = engine.kind === "sqlite" ? sqliteRunner(engine) : trinoRunner(engine);
parentPort!.on("message", (req: QueryRequest | BacktestWork) => {
  const work: Promise<Record<string, unknown>> = req.kind === "backtest" ? runner.backtest(req).then((backtest) => ({ backtest })) : runner.query(req);
  work.then(
    (r) => parentPort!.postMessage({ id: req.id, ok: true, ...r } as QueryReply),
    (err: Error) => parentPort!.postMessage({ id: req.id, ok: false, message: err.message, input: err instanceof InputError } satisfies QueryReply),
  );
});
