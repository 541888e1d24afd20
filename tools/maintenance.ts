import { setImmediate as yieldToPipeline } from "node:timers/promises";
import { z } from "zod";
import { InputError } from "../core/errors.js";
import type { TableName } from "../domain/tables.js";
import { knownTable, requireTable } from "./data.js";
import { defineTool, type Jobs, type ToolContext } from "./registry.js";

function jobsOf(ctx: ToolContext): Jobs {
  if (!ctx.jobs) throw new InputError("this process runs no scheduler (CARWATCH_ROLES has no 'scheduler')");
  return ctx.jobs;
}

// Dead letters too: refused messages are for looking into, not for keeping for ever.
const RETAINED: readonly TableName[] = ["cars_raw", "cars_enriched", "dead_letters"];
const RETENTION_BATCH = 5000;

export const tableStats = defineTool({
  name: "table_stats",
  description: "Size of one table: rows and bytes on disk (for Iceberg also data files, snapshots and manifests).",
  input: z.object({ table: knownTable }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => ctx.lakehouse.tableStats(requireTable(input.table).name as TableName),
});

export const compactTable = defineTool({
  name: "compact_table",
  description:
    "Compacts one table (SQLite: WAL checkpoint, incremental vacuum, ANALYZE, optimize; Iceberg: optimize, expire snapshots, remove orphan files) and reports its size before and after. Destructive: asks for a confirmation.",
  input: z.object({ table: knownTable }),
  role: "operator",
  destructive: true,
  run: ({ input, ctx }) => ctx.lakehouse.maintain(requireTable(input.table).name as TableName),
});

export const listJobs = defineTool({
  name: "list_jobs",
  description: "The maintenance jobs (compaction, retention, watchdog) with schedule, next run and last outcome.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => jobsOf(ctx).list(),
});

export const runJob = defineTool({
  name: "run_job",
  description:
    "Runs a maintenance job now (compaction, retention or watchdog) and returns the finished run. Retention deletes old rows. Destructive: asks for a confirmation.",
  input: z.object({
    job: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^[a-z][a-z0-9_-]{0,30}$/, "a job name such as compaction"),
  }),
  role: "operator",
  destructive: true,
  run: ({ input, ctx }) => jobsOf(ctx).run(input.job),
});

export const applyRetention = defineTool({
  name: "apply_retention",
  description:
    "Deletes readings, enriched readings and dead letters older than RETENTION_DAYS, and audit entries older than AUDIT_RETENTION_DAYS, in small batches so the pipeline keeps flowing; returns the cut-offs and the rows deleted per table. Destructive: asks for a confirmation.",
  input: z.object({}),
  role: "operator",
  destructive: true,
  async run({ ctx }) {
    if (!ctx.retention) throw new InputError("this process has no retention settings");
    const now = ctx.clock();
    const cutoff = now - ctx.retention.readingsDays * 86_400_000;
    const auditCutoff = now - ctx.retention.auditDays * 86_400_000;
    const deleted: Record<string, number> = {};
    for (const t of RETAINED) {
      deleted[t] = 0;
      for (let n = Number.POSITIVE_INFINITY; n > 0; ) {
        n = await ctx.lakehouse.deleteBefore(t, cutoff, RETENTION_BATCH);
        deleted[t] += n;
        // Each batch is its own short transaction; the stages write in between.
        await yieldToPipeline();
      }
    }
    deleted.audit_log = ctx.ops.pruneAudit(auditCutoff);
    return { cutoff: new Date(cutoff).toISOString(), auditCutoff: new Date(auditCutoff).toISOString(), deleted };
  },
});

export const MAINTENANCE_TOOLS = [tableStats, compactTable, listJobs, runJob, applyRetention] as const;
