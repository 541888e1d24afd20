/**
 * Runs users' read-only SQL off the main thread: better-sqlite3 cannot
 * interrupt a statement, so a query past its time limit is stopped by
 * terminating this worker.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const { mainPath, attach } = workerData as { mainPath: string; attach: Record<string, string> };
const db = new Database(mainPath, { readonly: true, fileMustExist: true });
for (const [schema, file] of Object.entries(attach)) db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file);
// A second wall behind the read-only open: no statement may write.
db.pragma("query_only = ON");

parentPort!.on("message", (msg: { id: number; sql: string; maxRows: number }) => {
  const started = performance.now();
  try {
    const stmt = db.prepare(msg.sql);
    if (!stmt.reader) throw new Error("only statements that return rows can run here");
    const columns = stmt.columns().map((c) => c.name);
    const rows: unknown[][] = [];
    let truncated = false;
    for (const row of stmt.raw(true).iterate() as IterableIterator<unknown[]>) {
      if (rows.length === msg.maxRows) {
        truncated = true;
        break;
      }
      rows.push(row.map((v) => (typeof v === "bigint" ? Number(v) : v instanceof Buffer ? `<${v.length} bytes>` : v)));
    }
    parentPort!.postMessage({ id: msg.id, ok: true, columns, rows, truncated, elapsedMs: performance.now() - started });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, message: (err as Error).message });
  }
});
