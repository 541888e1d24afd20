import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { StoreError } from "../../../core/errors.js";
import type { MaintenanceReport, QueryResult, TableInfo, TableStats } from "../../../domain/catalog.js";
import { catalogOf, type Row, SCHEMAS, TABLE_LIST, TABLES, type TableName, type TableRows, type TableSpec } from "../../../domain/tables.js";
import type { BacktestRequest, BacktestResult } from "../../rules/backtest.js";
import { AGGREGATE_LIMITS, BACKTEST_TIMEOUT_MS, type Lakehouse, type QueryOptions } from "../lakehouse.js";
import { QuerySandbox } from "../query/sandbox.js";
import { createTableSql, insertSql, secondaryIndexes } from "./schema.js";
import { fromSqliteTime, rowEncoder, SQLITE_TYPES, toSqliteTime } from "./values.js";

/** How long a write waits for another process's write before it fails (retriable). */
const BUSY_WAIT_MS = 5000;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A parameter as SQLite binds it: Dates become the stored timestamp text. */
const sqliteParam = (p: unknown) => (p instanceof Date ? toSqliteTime(p.getTime()) : p);

interface Writer {
  stmt: Database.Statement;
  encode: (row: Row) => unknown[];
}

/**
 * The embedded lakehouse: one SQLite file per schema (dims.db,
 * telemetry.db), attached to an empty catalog file so that
 * `SELECT ... FROM telemetry.cars_enriched` works as written.
 */
export class SqliteLakehouse implements Lakehouse {
  readonly dialect = "sqlite" as const;
  readonly dir: string;
  private readonly db: Database.Database;
  private readonly writers = new Map<TableName, Writer>();
  private readonly files: Record<string, string>;
  private readonly mainPath: string;
  private readonly queries: QuerySandbox;
  private readonly writeTx: Database.Transaction<(batch: readonly TableRows[]) => void>;
  private readonly insertNewTx: Database.Transaction<(table: TableName, rows: readonly Row[], derive?: (fresh: Row[]) => readonly TableRows[]) => Row[]>;

  constructor(dataDir: string) {
    this.dir = join(dataDir, "lakehouse");
    mkdirSync(this.dir, { recursive: true });
    this.mainPath = join(this.dir, "catalog.db");
    this.files = Object.fromEntries(SCHEMAS.map((s) => [s, join(this.dir, `${s}.db`)]));
    try {
      this.db = new Database(this.mainPath);
      for (const [schema, file] of Object.entries(this.files)) {
        this.db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file);
        // auto_vacuum only takes effect before the first table; it lets maintenance give pages back without a full VACUUM.
        this.db.pragma(`${schema}.auto_vacuum = INCREMENTAL`);
        this.db.pragma(`${schema}.journal_mode = WAL`);
        // NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commits.
        this.db.pragma(`${schema}.synchronous = NORMAL`);
        // 16 MiB instead of 2: every fact table is keyed in time order, so its newest pages are the ones written;
        // the dead letters' hashed ids are few.
        this.db.pragma(`${schema}.cache_size = -16384`);
      }
      // Writes wait for another process's write in whenUnlocked, on timers, not in SQLite's busy handler.
      this.db.pragma("busy_timeout = 0");
    } catch (err) {
      throw new StoreError(`cannot open the lakehouse in ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    this.queries = new QuerySandbox({ kind: "sqlite", mainPath: this.mainPath, attach: this.files });
    this.writeTx = this.db.transaction((batch: readonly TableRows[]) => {
      for (const { table, rows } of batch) {
        const w = this.writer(table);
        for (const row of rows) w.stmt.run(w.encode(row));
      }
    });
    this.insertNewTx = this.db.transaction((table: TableName, rows: readonly Row[], derive?: (fresh: Row[]) => readonly TableRows[]) => {
      const w = this.writer(table);
      const fresh: Row[] = [];
      for (const row of rows) if (w.stmt.run(w.encode(row)).changes === 1) fresh.push(row);
      if (derive) this.writeTx(derive(fresh));
      return fresh;
    });
  }

  /** Tables that init() rebuilt because their key changed since the file was made, or cleared of repeated unique values. */
  rebuilt: string[] = [];

  async init(): Promise<void> {
    const create = this.db.transaction(() => {
      for (const t of TABLE_LIST) {
        const key = this.primaryKey(t);
        if (key && key.join() !== t.key.join()) this.rebuild(t);
        else {
          if (key) {
            this.dropStaleIndexes(t);
            this.addMissingColumns(t);
          }
          for (const sql of createTableSql(t)) this.db.exec(sql);
        }
      }
    });
    await this.whenUnlocked("creating the tables", () => create.immediate());
  }

  /**
   * Runs a write, waiting while another process (a worker on the same
   * DATA_DIR) holds the write lock. SQLite's busy handler would wait by
   * sleeping in this thread, up to 100 ms at a time, stalling every stage of
   * the process; here the connection answers busy at once (busy_timeout 0,
   * transactions BEGIN IMMEDIATE, so before any of `fn` runs) and the wait is
   * on timers. Gives up, retriable, after BUSY_WAIT_MS.
   */
  private async whenUnlocked<T>(what: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 16)) {
      try {
        return fn();
      } catch (err) {
        const busy = String((err as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY");
        if (busy && Date.now() < deadline) await delay(pause);
        else throw new StoreError(`${what} failed: ${(err as Error).message}`, { cause: err, retriable: busy });
      }
    }
  }

  /** An existing table's primary key columns in key order; null when the table does not exist yet. */
  private primaryKey(t: TableSpec): string[] | null {
    const cols = this.db.prepare("SELECT name, pk FROM pragma_table_info(?, ?)").all(t.name, t.schema) as { name: string; pk: number }[];
    if (cols.length === 0) return null;
    return cols
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
  }

  /** Rebuilds a table made with another key (an older carwatch) under the current one, keeping every row; inside init's transaction. */
  private rebuild(t: TableSpec): void {
    const old = `${t.name}_before_rebuild`;
    const cols = t.columns.map((c) => c.name).join(", ");
    const indexes = this.db.prepare(`SELECT name FROM ${t.schema}.sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`).all(t.name) as {
      name: string;
    }[];
    for (const { name } of indexes) this.db.exec(`DROP INDEX ${t.schema}.${name}`);
    this.db.exec(`ALTER TABLE ${t.schema}.${t.name} RENAME TO ${old}`);
    for (const sql of createTableSql(t)) this.db.exec(sql);
    // "WHERE true": SQLite's parser needs it between INSERT ... SELECT and ON CONFLICT.
    this.db.exec(
      `INSERT INTO ${t.schema}.${t.name} (${cols}) SELECT ${cols} FROM ${t.schema}.${old} WHERE true ORDER BY ${t.key.join(", ")} ON CONFLICT DO NOTHING`,
    );
    this.db.exec(`DROP TABLE ${t.schema}.${old}`);
    this.rebuilt.push(`${t.schema}.${t.name}`);
  }

  /**
   * Indexes an older carwatch made that the table no longer has (cars_raw's
   * unique event_id index, whose random keys cost more than the rest of the
   * write): every index is paid for on each insert.
   */
  private dropStaleIndexes(t: TableSpec): void {
    const keep = new Set(secondaryIndexes(t));
    const have = this.db.prepare(`SELECT name FROM ${t.schema}.sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`).all(t.name) as {
      name: string;
    }[];
    for (const { name } of have) if (!keep.has(name)) this.db.exec(`DROP INDEX ${t.schema}.${name}`);
  }

  /** A table made by an older carwatch gains the (nullable) columns added since. */
  private addMissingColumns(t: TableSpec): void {
    const have = new Set((this.db.prepare("SELECT name FROM pragma_table_info(?, ?)").all(t.name, t.schema) as { name: string }[]).map((c) => c.name));
    for (const c of t.columns) {
      if (have.has(c.name)) continue;
      if (!c.nullable) throw new StoreError(`${t.schema}.${t.name} lacks the column ${c.name}, which cannot be added to existing rows`);
      this.db.exec(`ALTER TABLE ${t.schema}.${t.name} ADD COLUMN ${c.name} ${SQLITE_TYPES[c.type]}`);
    }
  }

  private writer(table: TableName): Writer {
    let w = this.writers.get(table);
    if (!w) {
      const spec = TABLES[table];
      w = { stmt: this.db.prepare(insertSql(spec)), encode: rowEncoder(spec) };
      this.writers.set(table, w);
    }
    return w;
  }

  async write(batch: readonly TableRows[]): Promise<void> {
    await this.whenUnlocked("write", () => this.writeTx.immediate(batch));
  }

  async insertNew<R extends Row>(table: TableName, rows: readonly R[], derive?: (fresh: R[]) => readonly TableRows[]): Promise<R[]> {
    if (TABLES[table].onConflict !== "ignore") throw new StoreError(`insertNew needs an insert-once table, not ${table}`);
    return this.whenUnlocked("write", () => this.insertNewTx.immediate(table, rows, derive as ((fresh: Row[]) => readonly TableRows[]) | undefined) as R[]);
  }

  /** A read; in WAL mode it rarely meets a lock (a checkpoint restarting the log), and then waits like a write. */
  async select<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.whenUnlocked("select", () => this.all<T>(sql, params));
  }

  /** A read at once, for tests and checks. */
  selectSync<T extends Row = Row>(sql: string, params: readonly unknown[] = []): T[] {
    try {
      return this.all<T>(sql, params);
    } catch (err) {
      throw new StoreError(`select failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private all<T extends Row>(sql: string, params: readonly unknown[]): T[] {
    return this.db.prepare(sql).all(...params.map(sqliteParam)) as T[];
  }

  aggregate<T extends Row = Row>(sql: string, params: readonly unknown[] = [], options = AGGREGATE_LIMITS): Promise<T[]> {
    return this.queries.rows<T>(sql, params.map(sqliteParam), options);
  }

  backtest(request: BacktestRequest, timeoutMs = BACKTEST_TIMEOUT_MS): Promise<BacktestResult> {
    return this.queries.backtest(request, timeoutMs);
  }

  query(sql: string, options: QueryOptions): Promise<QueryResult> {
    return this.queries.run(sql, options);
  }

  closeQueries(): Promise<void> {
    return this.queries.close();
  }

  toMillis(value: unknown): number {
    return fromSqliteTime(String(value));
  }

  async catalog(): Promise<TableInfo[]> {
    return catalogOf((c) => SQLITE_TYPES[c.type] + (c.type === "timestamp" ? " (UTC 'YYYY-MM-DD HH:MM:SS.SSS')" : ""));
  }

  async tableStats(table: TableName): Promise<TableStats> {
    const t = TABLES[table];
    const rows = (this.db.prepare(`SELECT count(*) AS n FROM ${t.schema}.${t.name}`).get() as { n: number }).n;
    const bytes = (
      this.db
        .prepare(`SELECT coalesce(sum(pgsize), 0) AS b FROM dbstat(?) WHERE name IN (SELECT name FROM ${t.schema}.sqlite_master WHERE tbl_name = ?)`)
        .get(t.schema, t.name) as { b: number }
    ).b;
    return { table: `${t.schema}.${t.name}`, rows, bytes };
  }

  /** Size of a schema's file plus its write-ahead log. */
  fileBytes(schema: TableSpec["schema"]): number {
    const f = this.files[schema]!;
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    return size(f) + size(`${f}-wal`);
  }

  async maintain(table: TableName): Promise<MaintenanceReport> {
    const started = performance.now();
    const t = TABLES[table];
    const before = await this.tableStats(table);
    const steps: string[] = [];
    const fileBefore = this.fileBytes(t.schema);
    this.db.pragma(`${t.schema}.wal_checkpoint(TRUNCATE)`);
    steps.push("wal_checkpoint(TRUNCATE)");
    await this.whenUnlocked("incremental_vacuum", () => this.db.pragma(`${t.schema}.incremental_vacuum`));
    steps.push("incremental_vacuum");
    await this.whenUnlocked("ANALYZE", () => this.db.exec(`ANALYZE ${t.schema}.${t.name}`));
    steps.push(`ANALYZE ${t.schema}.${t.name}`);
    await this.whenUnlocked("optimize", () => this.db.pragma(`${t.schema}.optimize`));
    steps.push("optimize");
    this.db.pragma(`${t.schema}.wal_checkpoint(TRUNCATE)`);
    steps.push(`file ${fileBefore} → ${this.fileBytes(t.schema)} bytes`);
    return { table: before.table, before, after: await this.tableStats(table), steps, elapsedMs: performance.now() - started };
  }

  async deleteBefore(table: TableName, cutoffMs: number, batchSize: number): Promise<number> {
    const t: TableSpec = TABLES[table];
    if (!t.timeColumn) throw new StoreError(`${t.schema}.${t.name} has no time column to retain by`);
    const del = this.db.prepare(`DELETE FROM ${t.schema}.${t.name} WHERE rowid IN (SELECT rowid FROM ${t.schema}.${t.name} WHERE ${t.timeColumn} < ? LIMIT ?)`);
    return (await this.whenUnlocked("retention", () => del.run(toSqliteTime(cutoffMs), batchSize))).changes;
  }

  async replaceValues(table: TableName, column: string, mapping: ReadonlyMap<string, string>): Promise<number> {
    const t: TableSpec = TABLES[table];
    if (!t.columns.some((c) => c.name === column && c.type === "string")) throw new StoreError(`${t.schema}.${t.name} has no string column ${column}`);
    const update = this.db.prepare(`UPDATE ${t.schema}.${t.name} SET ${column} = ? WHERE ${column} = ?`);
    const all = this.db.transaction(() => {
      let n = 0;
      for (const [from, to] of mapping) n += update.run(to, from).changes;
      return n;
    });
    return this.whenUnlocked("conversion", () => all());
  }

  /** SQLite's own integrity check of every schema file; "ok" when sound. */
  integrityCheck(): string[] {
    return SCHEMAS.map((s) => `${s}: ${(this.db.pragma(`${s}.integrity_check`) as { integrity_check: string }[]).map((r) => r.integrity_check).join("; ")}`);
  }

  async close(): Promise<void> {
    await this.queries.close();
    if (this.db.open) this.db.close();
  }
}
