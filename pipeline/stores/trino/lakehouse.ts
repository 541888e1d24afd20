import { StoreError } from "../../../core/errors.js";
import type { MaintenanceReport, QueryResult, TableInfo, TableStats } from "../../../domain/catalog.js";
import { catalogOf, type Row, SCHEMAS, TABLE_LIST, TABLES, type TableName, type TableRows, type TableSpec } from "../../../domain/tables.js";
import type { BacktestRequest, BacktestResult } from "../../rules/backtest.js";
import { AGGREGATE_LIMITS, BACKTEST_TIMEOUT_MS, type Lakehouse, type QueryOptions } from "../lakehouse.js";
import { QuerySandbox } from "../query/sandbox.js";
import { TrinoClient, type TrinoConnection } from "./client.js";
import { inlineParams, jsonSource, parseTimestamp, stringLiteral, timestampLiteral } from "./literals.js";
import { createTableSql, TRINO_TYPES } from "./schema.js";

export interface TrinoLakehouseOptions extends TrinoConnection {
  /** The user for chat queries: give it read-only access in Trino as a second wall. */
  queryUser: string;
  /** Writes arriving within this many ms share one commit per table (Iceberg makes a snapshot per commit). */
  flushMs: number;
  /** Rows per MERGE statement at most. */
  maxRowsPerStatement: number;
  /** expire_snapshots / remove_orphan_files keep this much history, e.g. "7d" or "0s". */
  retention: string;
}

interface Pending {
  batch: readonly TableRows[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

const keyOf = (spec: TableSpec, row: object) => spec.key.map((k) => String((row as Record<string, unknown>)[k])).join("\u0000");

/**
 * The lakehouse as Apache Iceberg tables behind Trino. Writes are MERGE
 * statements keyed by each table's key (idempotent: a redelivered row
 * changes nothing), grouped so that writes arriving close together make one
 * commit, hence one snapshot, per table.
 */
export class TrinoLakehouse implements Lakehouse {
  readonly dialect = "trino" as const;
  private readonly writer: TrinoClient;
  private readonly queries: QuerySandbox;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;

  constructor(private readonly o: TrinoLakehouseOptions) {
    this.writer = new TrinoClient(o);
    this.queries = new QuerySandbox({ kind: "trino", connection: { url: o.url, user: o.queryUser, password: o.password, catalog: o.catalog } });
  }

  private name(t: TableSpec): string {
    return `${this.o.catalog}.${t.schema}.${t.name}`;
  }

  async init(): Promise<void> {
    for (const s of SCHEMAS) await this.writer.run(`CREATE SCHEMA IF NOT EXISTS ${this.o.catalog}.${s}`);
    for (const t of TABLE_LIST) await this.writer.run(createTableSql(this.o.catalog, t));
    // Tables made by an older carwatch gain the (nullable) columns added since.
    const have = await this.writer.run(
      `SELECT table_schema || '.' || table_name || '.' || column_name FROM ${this.o.catalog}.information_schema.columns WHERE table_schema IN (${SCHEMAS.map((s) => `'${s}'`).join(", ")})`,
    );
    const existing = new Set(have.rows.map((r) => String(r[0])));
    for (const t of TABLE_LIST) {
      for (const c of t.columns) {
        if (!c.nullable || existing.has(`${t.schema}.${t.name}.${c.name}`)) continue;
        await this.writer.run(`ALTER TABLE ${this.name(t)} ADD COLUMN IF NOT EXISTS ${c.name} ${TRINO_TYPES[c.type]}`);
      }
    }
  }

  write(batch: readonly TableRows[]): Promise<void> {
    if (batch.every((b) => b.rows.length === 0)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.flushing ??= this.flushSoon();
    });
  }

  private async flushSoon(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.o.flushMs));
    const pending = this.queue;
    this.queue = [];
    try {
      // Per table, in the order tables were first written, so derived rows land before the rows they derive from.
      const byTable = new Map<TableName, Map<string, object>>();
      for (const p of pending) {
        for (const { table, rows } of p.batch) {
          const spec = TABLES[table];
          let m = byTable.get(table);
          if (!m) byTable.set(table, (m = new Map()));
          for (const r of rows) {
            const k = keyOf(spec, r);
            if (spec.onConflict === "replace" || !m.has(k)) m.set(k, r);
          }
        }
      }
      for (const [table, rows] of byTable) await this.merge(TABLES[table], [...rows.values()]);
      for (const p of pending) p.resolve();
    } catch (err) {
      for (const p of pending) p.reject(err);
    } finally {
      this.flushing = null;
      if (this.queue.length > 0) this.flushing = this.flushSoon();
    }
  }

  private async merge(spec: TableSpec, rows: object[]): Promise<void> {
    const cols = spec.columns.map((c) => c.name);
    const on = spec.key.map((k) => `t.${k} = s.${k}`).join(" AND ");
    const rest = cols.filter((c) => !spec.key.includes(c));
    const update = spec.onConflict === "replace" && rest.length > 0 ? ` WHEN MATCHED THEN UPDATE SET ${rest.map((c) => `${c} = s.${c}`).join(", ")}` : "";
    for (let i = 0; i < rows.length; i += this.o.maxRowsPerStatement) {
      const source = jsonSource(spec, rows.slice(i, i + this.o.maxRowsPerStatement));
      await this.writer.run(
        `MERGE INTO ${this.name(spec)} t USING (${source}) s ON ${on}${update} ` +
          `WHEN NOT MATCHED THEN INSERT (${cols.join(", ")}) VALUES (${cols.map((c) => `s.${c}`).join(", ")})`,
      );
    }
  }

  async insertNew<R extends Row>(table: TableName, rows: readonly R[], derive?: (fresh: R[]) => readonly TableRows[]): Promise<R[]> {
    const spec: TableSpec = TABLES[table];
    if (spec.onConflict !== "ignore") throw new StoreError(`insertNew needs an insert-once table, not ${table}`);
    // Rows are looked up by the key's last column (the id; facts put their time first), then matched on the
    // whole key, times compared as epoch ms (rows carry numbers, Trino answers with timestamp text).
    const id = spec.key[spec.key.length - 1]!;
    const match = spec.key;
    const timeKeys = new Set(spec.columns.filter((c) => c.type === "timestamp").map((c) => c.name));
    const keyOfRow = (r: Record<string, unknown>) =>
      match.map((k) => (timeKeys.has(k) && typeof r[k] !== "number" ? String(this.toMillis(r[k])) : String(r[k]))).join("\u0000");
    const ids = rows.map((r) => (r as Record<string, unknown>)[id]);
    const seen = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const found = await this.select<Record<string, unknown>>(
        `SELECT ${match.join(", ")} FROM ${this.name(spec)} WHERE ${id} IN (${chunk.map(() => "?").join(", ")})`,
        chunk,
      );
      for (const f of found) seen.add(keyOfRow(f));
    }
    // The first of rows repeating a value within the batch is the one kept, as SQLite keeps it.
    const fresh = rows.filter((r) => {
      const k = keyOfRow(r as Record<string, unknown>);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    // Derived rows first: once a row is in its table, a redelivery treats it as done, so what derives from it must already be stored.
    await this.write([...(derive?.(fresh) ?? []), { table, rows: fresh }]);
    return fresh;
  }

  async select<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const r = await this.writer.run(inlineParams(sql, params));
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])) as T);
  }

  aggregate<T extends Row = Row>(sql: string, params: readonly unknown[] = [], options = AGGREGATE_LIMITS): Promise<T[]> {
    return this.queries.rows<T>(inlineParams(sql, params), [], options);
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
    return parseTimestamp(String(value));
  }

  async catalog(): Promise<TableInfo[]> {
    return catalogOf((c) => TRINO_TYPES[c.type]);
  }

  private metadata(t: TableSpec, suffix: "files" | "snapshots" | "manifests"): string {
    return `${this.o.catalog}.${t.schema}."${t.name}$${suffix}"`;
  }

  async tableStats(table: TableName): Promise<TableStats> {
    const t = TABLES[table];
    const one = async (sql: string) => Number((await this.writer.run(sql)).rows[0]?.[0] ?? 0);
    const [files] = (
      await this.writer.run(`SELECT count(*), coalesce(sum(file_size_in_bytes), 0), coalesce(sum(record_count), 0) FROM ${this.metadata(t, "files")}`)
    ).rows;
    return {
      table: `${t.schema}.${t.name}`,
      rows: Number(files?.[2] ?? 0),
      bytes: Number(files?.[1] ?? 0),
      files: Number(files?.[0] ?? 0),
      snapshots: await one(`SELECT count(*) FROM ${this.metadata(t, "snapshots")}`),
      manifests: await one(`SELECT count(*) FROM ${this.metadata(t, "manifests")}`),
    };
  }

  async maintain(table: TableName): Promise<MaintenanceReport> {
    const started = performance.now();
    const t = TABLES[table];
    const before = await this.tableStats(table);
    const steps = [
      "optimize",
      "optimize_manifests",
      `expire_snapshots(retention_threshold => '${this.o.retention}')`,
      `remove_orphan_files(retention_threshold => '${this.o.retention}')`,
    ];
    for (const step of steps) await this.writer.run(`ALTER TABLE ${this.name(t)} EXECUTE ${step}`);
    return { table: before.table, before, after: await this.tableStats(table), steps, elapsedMs: performance.now() - started };
  }

  async deleteBefore(table: TableName, cutoffMs: number): Promise<number> {
    const t: TableSpec = TABLES[table];
    if (!t.timeColumn) throw new StoreError(`${t.schema}.${t.name} has no time column to retain by`);
    // One statement: on day partitions, whole old days go as a metadata-only delete.
    const r = await this.writer.run(`DELETE FROM ${this.name(t)} WHERE ${t.timeColumn} < ${timestampLiteral(cutoffMs)}`);
    return r.updateCount ?? 0;
  }

  async replaceValues(table: TableName, column: string, mapping: ReadonlyMap<string, string>): Promise<number> {
    const t: TableSpec = TABLES[table];
    if (!t.columns.some((c) => c.name === column && c.type === "string")) throw new StoreError(`${t.schema}.${t.name} has no string column ${column}`);
    const pairs = [...mapping];
    let changed = 0;
    // A few hundred values per UPDATE: each one is a new Iceberg snapshot, and the statement's text stays small.
    for (let i = 0; i < pairs.length; i += 500) {
      const chunk = pairs.slice(i, i + 500);
      const cases = chunk.map(([from, to]) => `WHEN ${stringLiteral(from)} THEN ${stringLiteral(to)}`).join(" ");
      const r = await this.writer.run(
        `UPDATE ${this.name(t)} SET ${column} = CASE ${column} ${cases} END WHERE ${column} IN (${chunk.map(([from]) => stringLiteral(from)).join(", ")})`,
      );
      changed += r.updateCount ?? 0;
    }
    return changed;
  }

  async close(): Promise<void> {
    await this.queries.close();
    await this.flushing;
  }
}
