import type { QueryResult } from "../../../domain/catalog.js";
import type { BacktestRequest, BacktestResult } from "../../rules/backtest.js";
import type { TrinoConnection } from "../trino/client.js";

/** Where the query process runs users' SQL: the SQLite files (read-only), or Trino as the query user. */
export type QueryEngine = { kind: "sqlite"; mainPath: string; attach: Record<string, string> } | { kind: "trino"; connection: TrinoConnection };

export interface QueryRequest {
  id: number;
  kind: "query";
  sql: string;
  /** Bound to the SQL's `?` (SQLite only; Trino's arrive inlined): plain values of carwatch's own reads, none for a user's SQL. */
  params: readonly unknown[];
  maxRows: number;
  timeoutMs: number;
}

/** Rules run over the stored readings of a time range, streamed in the query process (never on the pipeline's thread). */
export interface BacktestWork {
  id: number;
  kind: "backtest";
  backtest: BacktestRequest;
  timeoutMs: number;
}

export type WorkRequest = QueryRequest | BacktestWork;

/** `input`: the refusal is the user's to fix (result too large, not a reader), shown as is. */
export type QueryReply =
  | ({ id: number; ok: true } & QueryResult)
  | { id: number; ok: true; backtest: BacktestResult }
  | { id: number; ok: false; message: string; input: boolean };

/** Parent → query process: the engine first, then requests. */
export type ToQueryProcess = { engine: QueryEngine } | WorkRequest;
