import { BasicAuth, Trino } from "trino-client";
import { StoreError } from "../../../core/errors.js";

export interface TrinoConnection {
  url: string;
  user: string;
  password?: string;
  catalog: string;
  /** Session properties, e.g. query_max_execution_time. */
  session?: Record<string, string>;
}

export interface Rows {
  columns: string[];
  rows: unknown[][];
  /** True when `maxRows` stopped the reading (the query was cancelled). */
  truncated: boolean;
  updateCount?: number;
}

// Errors Trino marks as the cluster's, not the statement's: worth trying again.
const RETRIABLE = new Set(["INSUFFICIENT_RESOURCES", "EXTERNAL", "INTERNAL_ERROR"]);

/** A thin layer over trino-client: reads every page, turns a failed query into a StoreError. */
export class TrinoClient {
  private readonly trino: Trino;

  constructor(c: TrinoConnection) {
    this.trino = Trino.create({
      server: c.url,
      catalog: c.catalog,
      source: "carwatch",
      ...(c.session ? { session: c.session } : {}),
      auth: new BasicAuth(c.user, c.password),
      // Without it Trino rounds timestamps to milliseconds and names zones oddly for "legacy" clients.
      extraHeaders: { "X-Trino-Client-Capabilities": "PARAMETRIC_DATETIME" },
    });
  }

  /**
   * `accept` sees each row as it arrives and returns what to keep, or
   * undefined to keep nothing (a stream consumed page by page); it may throw
   * to refuse the result.
   */
  async run(sql: string, options: { maxRows?: number; timeoutMs?: number; accept?: (row: unknown[]) => unknown[] | undefined } = {}): Promise<Rows> {
    const { maxRows = Number.POSITIVE_INFINITY, timeoutMs, accept = (row) => row } = options;
    let queryId: string | null = null;
    const work = (async (): Promise<Rows> => {
      let iter: Awaited<ReturnType<Trino["query"]>>;
      try {
        iter = await this.trino.query(sql);
      } catch (err) {
        throw new StoreError(`Trino is unreachable: ${(err as Error).message}`, { retriable: true, cause: err });
      }
      let columns: string[] = [];
      const rows: unknown[][] = [];
      let updateCount: number | undefined;
      for await (const page of iter) {
        queryId = page.id;
        if (page.error) {
          const e = page.error;
          throw new StoreError(`${e.errorName}: ${e.message}`, { retriable: RETRIABLE.has(e.errorType), cause: e });
        }
        if (page.columns) columns = page.columns.map((c) => c.name);
        for (const row of page.data ?? []) {
          if (rows.length === maxRows) {
            await this.trino.cancel(page.id).catch(() => undefined);
            return { columns, rows, truncated: true };
          }
          try {
            const kept = accept(row);
            if (kept !== undefined) rows.push(kept);
          } catch (err) {
            await this.trino.cancel(page.id).catch(() => undefined);
            throw err;
          }
        }
        const count = (page as { updateCount?: number }).updateCount;
        if (count !== undefined) updateCount = count;
      }
      return { columns, rows, truncated: false, updateCount };
    })();
    if (timeoutMs === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (queryId) void this.trino.cancel(queryId).catch(() => undefined);
        reject(new StoreError(`the query ran longer than ${timeoutMs} ms and was stopped`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }
}
