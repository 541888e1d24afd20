import type { MaintenanceReport, QueryResult, TableInfo, TableStats } from "../../domain/catalog.js";
import type { Row, TableName, TableRows } from "../../domain/tables.js";
import type { BacktestRequest, BacktestResult } from "../rules/backtest.js";

export interface QueryOptions {
  maxRows: number;
  timeoutMs: number;
}
/**
 * Bounds of carwatch's own reads in the query processes (`aggregate`): an
 * aggregate's rows are few (buckets times series), so more is a bug, and its
 * scan may take a while on a long period.
 */
export const AGGREGATE_LIMITS: QueryOptions = { maxRows: 10_000, timeoutMs: 30_000 };

/** How long a backtest may read: a day of a large fleet's readings is millions of rows. */
export const BACKTEST_TIMEOUT_MS = 120_000;

/**
 * The lakehouse: where the pipeline's tables live (SQLite files, or Iceberg
 * through Trino). Deliberately small so that each engine can implement it.
 */
export interface Lakehouse {
  readonly dialect: "sqlite" | "trino";
  /** Creates schemas and tables that are missing. */
  init(): Promise<void>;
  /**
   * Writes rows to several tables, idempotently by each table's key. As
   * atomic as the engine allows; callers must not rely on atomicity across
   * schemas (SQLite in WAL mode commits each attached file on its own).
   */
  write(batch: readonly TableRows[]): Promise<void>;
  /**
   * Inserts rows idempotently by the table's key (an "ignore" table: the
   * first row with a key is kept) and, in the same
   * transaction where the engine allows, the rows `derive` makes from the
   * ones that were new (called also when none was). Returns the new rows: a
   * redelivered message therefore has no effect downstream.
   */
  insertNew<R extends Row>(table: TableName, rows: readonly R[], derive?: (fresh: R[]) => readonly TableRows[]): Promise<R[]>;
  /** Trusted, parameterised SQL from carwatch's own code (never a user's). Date params become the engine's timestamps. */
  select<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Trusted, parameterised SQL whose cost grows with the data (the charts'
   * and dashboards' GROUP BYs), run in the query processes like users'
   * queries, so it never blocks the stages, and under the same result
   * budget. More rows than `maxRows` is a StoreError, never a silent cut.
   */
  aggregate<T extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<T[]>;
  /**
   * Rules run over the stored readings (telemetry.cars_enriched) of
   * [fromMs, toMs), streamed in event-time order through the alert stage's
   * rule engine and incident tracker (pipeline/rules/backtest.ts), in the
   * query processes like an aggregate: never on the pipeline's thread.
   */
  backtest(request: BacktestRequest, timeoutMs?: number): Promise<BacktestResult>;
  /** A user's SQL, already allowed by the guard, on a read-only connection with row and time limits. */
  query(sql: string, options: QueryOptions): Promise<QueryResult>;
  /** Stops users' queries in hand and refuses new ones: the first step of a shutdown, so none delays it. */
  closeQueries(): Promise<void>;
  /** A timestamp as `select` returns it, in epoch ms. */
  toMillis(value: unknown): number;
  catalog(): Promise<TableInfo[]>;
  tableStats(table: TableName): Promise<TableStats>;
  maintain(table: TableName): Promise<MaintenanceReport>;
  /** Rewrites a string column's values (each key to its value) in one table; returns the rows changed. For conversions at start. */
  replaceValues(table: TableName, column: string, mapping: ReadonlyMap<string, string>): Promise<number>;
  /** Deletes rows whose time column is older than the cut-off; returns how many. */
  deleteBefore(table: TableName, cutoffMs: number, batchSize: number): Promise<number>;
  close(): Promise<void>;
}
