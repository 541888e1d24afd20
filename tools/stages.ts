import { z } from "zod";
import type { StageStatus } from "../domain/stage-status.js";
import { defineTool } from "./registry.js";

const stageName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z][a-z0-9_-]{0,30}$/, "a stage name such as generator or enrich");
// Which process, when several could be meant (list_stages shows each stage's host and pid).
const where = {
  pid: z.coerce.number().int().positive().optional().describe("only when the stage runs in several processes"),
  host: z.string().trim().min(1).optional().describe("only when the pid is ambiguous"),
};
const target = (i: { pid?: number; host?: string }) => (i.pid === undefined ? undefined : { pid: i.pid, host: i.host });

/** A stage as a model needs it: what it is doing and how it fares, without its description, params and process details. */
const briefStage = (s: StageStatus) => ({
  name: s.name,
  state: s.state,
  in: s.counters.in,
  out: s.counters.out,
  errors: s.counters.errors,
  deadLetters: s.counters.deadLetters,
  ratePerSec: s.ratePerSec,
  queueDepth: s.queueDepth,
  ...(s.lastError ? { lastError: s.lastError } : {}),
  ...(s.stale ? { stale: true } : {}),
  ...(s.restarts ? { restarts: s.restarts } : {}),
});

export const listStages = defineTool({
  name: "list_stages",
  description: "Every pipeline stage of every carwatch process: host, pid, state, rates, queue depth, counters (stale: its process missed heartbeats).",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => ctx.supervisor.cluster.list(),
  brief: (stages) => stages.map(briefStage),
});

export const stageStatus = defineTool({
  name: "stage_status",
  description: "Live status of one stage: state, events in/out, errors, dead letters, rates, queue depth, last error.",
  input: z.object({ stage: stageName, ...where }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.cluster.status(input.stage, target(input)),
  brief: briefStage,
});

export const startStage = defineTool({
  name: "start_stage",
  description: "Starts a stage, with optional params (e.g. generator {rate: 50} for 50 events per second), in a process that may run it; returns its status.",
  input: z.object({ stage: stageName, params: z.record(z.string(), z.unknown()).default({}), ...where }),
  role: "operator",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.cluster.start(input.stage, input.params, target(input)),
});

export const stopStage = defineTool({
  name: "stop_stage",
  description: "Stops a running stage after its batch in hand (nothing is lost). Asks for a confirmation.",
  input: z.object({ stage: stageName, ...where }),
  role: "operator",
  destructive: true,
  run: ({ input, ctx }) => ctx.supervisor.cluster.stop(input.stage, target(input)),
});

export const stopAll = defineTool({
  name: "stop_all",
  description: "Stops every running stage in every process, sources first. Asks for a confirmation.",
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
