import { z } from "zod";
import { InputError } from "../core/errors.js";
import type { TableName } from "../pipeline/stores/tables.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import { knownTable, requireTable } from "./data.js";
import { defineTool, type ToolContext } from "./registry.js";

function schedulerOf(ctx: ToolContext): Scheduler {
  if (!ctx.scheduler) throw new InputError("this process runs no scheduler (CARWATCH_ROLES has no 'scheduler')");
  return ctx.scheduler;
}

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
  run: ({ ctx }) => schedulerOf(ctx).list(),
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
  run: ({ input, ctx }) => schedulerOf(ctx).run(input.job),
});

export const MAINTENANCE_TOOLS = [tableStats, compactTable, listJobs, runJob] as const;
