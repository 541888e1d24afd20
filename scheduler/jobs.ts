import { setImmediate as yieldToPipeline } from "node:timers/promises";
import type { Logger } from "../core/log.js";
import type { Lakehouse, MaintenanceReport } from "../pipeline/stores/lakehouse.js";
import type { TableName } from "../pipeline/stores/tables.js";
import type { Supervisor } from "../pipeline/supervisor.js";
import { Watchdog, type WatchdogNotice } from "./watchdog.js";

export interface JobContext {
  lakehouse: Lakehouse;
  supervisor: Supervisor;
  log: Logger;
  /** Tells the admins (Telegram when configured, else the log). */
  notifyAdmins(text: string): Promise<void>;
  retentionDays: number;
  now(): number;
}

export interface JobDefinition {
  name: string;
  description: string;
  /** Runs the job; returns details for the run history. */
  run(ctx: JobContext): Promise<Record<string, unknown>>;
}

/** Fact tables, in the order compaction visits them. */
export const FACT_TABLES: readonly TableName[] = ["cars_raw", "cars_enriched", "alerts", "incidents", "alert_windows", "dead_letters"];
// Dead letters too: refused messages are for looking into, not for keeping for ever.
const RETAINED: readonly TableName[] = ["cars_raw", "cars_enriched", "dead_letters"];
const RETENTION_BATCH = 5000;

export const compactionJob: JobDefinition = {
  name: "compaction",
  description: "Compacts the fact tables (SQLite: checkpoint, incremental vacuum, ANALYZE, optimize) and reports sizes before and after.",
  async run({ lakehouse }) {
    const reports: MaintenanceReport[] = [];
    for (const t of FACT_TABLES) reports.push(await lakehouse.maintain(t));
    return {
      tables: reports.map((r) => ({ table: r.table, rows: r.after.rows, bytesBefore: r.before.bytes, bytesAfter: r.after.bytes, ms: Math.round(r.elapsedMs) })),
    };
  },
};

export const retentionJob: JobDefinition = {
  name: "retention",
  description: "Deletes raw and enriched readings older than RETENTION_DAYS, in small batches so the pipeline keeps flowing.",
  async run({ lakehouse, retentionDays, now }) {
    const cutoff = now() - retentionDays * 86_400_000;
    const deleted: Record<string, number> = {};
    for (const t of RETAINED) {
      deleted[t] = 0;
      for (let n = Number.POSITIVE_INFINITY; n > 0; ) {
        n = await lakehouse.deleteBefore(t, cutoff, RETENTION_BATCH);
        deleted[t] += n;
        // Each batch is its own short transaction; the stages write in between.
        await yieldToPipeline();
      }
    }
    return { cutoff: new Date(cutoff).toISOString(), deleted };
  },
};

/** The watchdog keeps state between runs: one instance per scheduler. */
export function watchdogJob(watchdog = new Watchdog()): JobDefinition {
  return {
    name: "watchdog",
    description: "Every minute: reports a stage that is failing, restarting in a loop or stalled to the admins, once per incident and once on recovery.",
    async run({ supervisor, notifyAdmins }) {
      const notices: WatchdogNotice[] = watchdog.check(supervisor.list());
      for (const n of notices) await notifyAdmins(n.kind === "recovered" ? `✅ ${n.message}` : `⚠️ ${n.message}`);
      return { notices };
    },
  };
}
