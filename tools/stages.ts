import { z } from "zod";
import { defineTool } from "./registry.js";

const stageName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z][a-z0-9_-]{0,30}$/, "a stage name such as generator or enrich");

export const listStages = defineTool({
  name: "list_stages",
  description:
    "Lists every pipeline stage (seed, generator, enrich, alert, aggregate) with its state, rate, queue depth and counters. Use it to see what runs.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx }) => ctx.supervisor.list(),
});

export const stageStatus = defineTool({
  name: "stage_status",
  description: "Live status of one stage: state, run id, events in/out, errors, dead letters, rate, queue depth, last event time, restarts, last error.",
  input: z.object({ stage: stageName }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.status(input.stage),
});

export const startStage = defineTool({
  name: "start_stage",
  description: "Starts a stage with optional params (validated by the stage's own schema). Refuses when the stage already runs. Returns the new status.",
  input: z.object({ stage: stageName, params: z.record(z.string(), z.unknown()).default({}) }),
  role: "operator",
  destructive: false,
  run: ({ input, ctx }) => ctx.supervisor.start(input.stage, input.params),
});

export const stopStage = defineTool({
  name: "stop_stage",
  description: "Stops a running stage after the batch in hand (nothing accepted is lost). Destructive: asks for a confirmation. Returns the final status.",
  input: z.object({ stage: stageName }),
  role: "operator",
  destructive: true,
  run: ({ input, ctx }) => ctx.supervisor.stop(input.stage),
});

export const stopAll = defineTool({
  name: "stop_all",
  description: "Stops every running stage, sources first. Destructive: asks for a confirmation. Returns the stopped stages' statuses.",
  input: z.object({}),
  role: "operator",
  destructive: true,
  run: ({ ctx }) => ctx.supervisor.stopAll(),
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
