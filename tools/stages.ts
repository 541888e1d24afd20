import { z } from "zod";
import { defineTool } from "./registry.js";

const stageName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z][a-z0-9_-]{0,30}$/, "a stage name such as generator or enrich");
// Which process, when several could be meant (list_stages shows each stage's host and pid).
const where = {
  pid: z.coerce.number().int().positive().optional().describe("the process's pid, from list_stages; only when the stage runs in several"),
  host: z.string().trim().min(1).optional().describe("the process's host, when the pid alone is ambiguous"),
};
const target = (i: { pid?: number; host?: string }) => (i.pid === undefined ? undefined : { pid: i.pid, host: i.host });

export const listStages = defineTool({
  name: "list_stages",
  description:
    "Lists every pipeline stage (seed, generator, enrich, alert, aggregate) of every carwatch process with its host and pid, state, rates in and out, queue depth and counters; stale: its process missed its heartbeats. Use it to see what runs where.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => ctx.supervisor.cluster.list(),
});

export const stageStatus = defineTool({
  name: "stage_status",
  description:
    "Live status of one stage, in whichever process runs it: host, pid, state, run id, events in/out, errors, dead letters, rates, queue depth, last event time, restarts, last error.",
  input: z.object({ stage: stageName, ...where }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.cluster.status(input.stage, target(input)),
});

export const startStage = defineTool({
  name: "start_stage",
  description:
    "Starts a stage with optional params (validated by the stage's own schema) in the process whose roles include it. Refuses when it already runs or no live process may run it. Returns the new status.",
  input: z.object({ stage: stageName, params: z.record(z.string(), z.unknown()).default({}), ...where }),
  role: "operator",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.cluster.start(input.stage, input.params, target(input)),
});

export const stopStage = defineTool({
  name: "stop_stage",
  description:
    "Stops a running stage, in the process that runs it, after the batch in hand (nothing accepted is lost). Destructive: asks for a confirmation. Returns the final status.",
  input: z.object({ stage: stageName, ...where }),
  role: "operator",
  destructive: true,
  run: ({ input, ctx }) => ctx.supervisor.cluster.stop(input.stage, target(input)),
});

export const stopAll = defineTool({
  name: "stop_all",
  description:
    "Stops every running stage in every carwatch process, sources first. Destructive: asks for a confirmation. Returns the stopped stages' statuses.",
  input: z.object({}),
  role: "operator",
  destructive: true,
  run: ({ ctx }) => ctx.supervisor.cluster.stopAll(),
});

export const recentRuns = defineTool({
  name: "recent_runs",
  description: "The run history (newest first) of one stage or of all: trigger, state, start/end, counters, last error.",
  input: z.object({ stage: stageName.optional(), limit: z.coerce.number().int().min(1).max(50).default(10) }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.history(input.stage, input.limit),
});

export const STAGE_TOOLS = [listStages, stageStatus, startStage, stopStage, stopAll, recentRuns] as const;
