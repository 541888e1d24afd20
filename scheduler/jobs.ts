import type { Logger } from "../core/log.js";
import type { TableName } from "../domain/tables.js";
import type { ToolRegistry } from "../tools/registry.js";
import { SCHEDULER_USER_ID } from "../tools/roles.js";
import { Watchdog, type WatchdogNotice } from "./watchdog.js";

/**
 * What a job may do: call tools through the registry as the scheduler (a
 * system caller, `via: "scheduler"`), so a cron run and a person's run are
 * one implementation, audited alike. `internal`: a read for the job itself,
 * not an action (not audited).
 */
export interface JobContext {
  call(tool: string, input: unknown, options?: { internal?: boolean }): Promise<unknown>;
  log: Logger;
  /** Tells the admins (Telegram when configured, else the log). */
  notifyAdmins(text: string): Promise<void>;
  now(): number;
}

/** Jobs' tool calls: as the scheduler's system user, confirmed (the schedule in the configuration is the confirmation). */
export function jobCalls(registry: ToolRegistry): JobContext["call"] {
  return (tool, input, options) => registry.call(tool, input, { userId: SCHEDULER_USER_ID, chatId: null, via: "scheduler" }, { confirmed: true, ...options });
}

export interface JobDefinition {
  name: string;
  description: string;
  /** Runs the job; returns details for the run history. */
  run(ctx: JobContext): Promise<Record<string, unknown>>;
}

/** Fact tables, in the order compaction visits them. */
export const FACT_TABLES: readonly TableName[] = ["cars_raw", "cars_enriched", "alerts", "incidents", "alert_windows", "dead_letters"];

interface CompactReport {
  table: string;
  before: { bytes: number };
  after: { rows: number; bytes: number };
  elapsedMs: number;
}

export const compactionJob: JobDefinition = {
  name: "compaction",
  description: "Compacts the fact tables (compact_table on each: SQLite checkpoint, incremental vacuum, ANALYZE, optimize) and reports sizes before and after.",
  async run({ call }) {
    const reports: CompactReport[] = [];
    for (const t of FACT_TABLES) reports.push((await call("compact_table", { table: t })) as CompactReport);
    return {
      tables: reports.map((r) => ({ table: r.table, rows: r.after.rows, bytesBefore: r.before.bytes, bytesAfter: r.after.bytes, ms: Math.round(r.elapsedMs) })),
    };
  },
};

export const retentionJob: JobDefinition = {
  name: "retention",
  description: "Runs apply_retention: readings and dead letters older than RETENTION_DAYS, audit entries older than AUDIT_RETENTION_DAYS.",
  async run({ call }) {
    return (await call("apply_retention", {})) as Record<string, unknown>;
  },
};

/** The watchdog keeps state between runs: one instance per scheduler. */
export function watchdogJob(watchdog = new Watchdog()): JobDefinition {
  return {
    name: "watchdog",
    description: "Every minute: reports a stage that is failing, restarting in a loop or stalled to the admins, once per incident and once on recovery.",
    async run({ call, notifyAdmins }) {
      const stages = (await call("list_stages", {}, { internal: true })) as Parameters<Watchdog["check"]>[0];
      const notices: WatchdogNotice[] = watchdog.check(stages);
      for (const n of notices) await notifyAdmins(n.kind === "recovered" ? `✅ ${n.message}` : `⚠️ ${n.message}`);
      return { notices };
    },
  };
}
