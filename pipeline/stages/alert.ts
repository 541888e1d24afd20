import { z } from "zod";
import { defineStage } from "../stage.js";
import { ENRICHED, SENSORS } from "../transport/topics.js";
import { AlertScorer } from "./alert-scorer.js";
import { consumeUntilStopped } from "./consume.js";

export const alertStage = defineStage({
  name: "alert",
  kind: "streaming",
  description:
    "Applies the rule table's enabled rules to enriched readings, writes telemetry.cars_enriched and telemetry.alerts, groups alerts into incidents that resolve once clear, and sends alerts to alert-data.",
  params: z.object({}),
  // Fused, the readings it has yet to score wait on sensors-sample for enrich's round.
  input: (deps) => (deps.fused ? { topic: SENSORS, group: "enrich" } : { topic: ENRICHED, group: "alert" }),
  async run(ctx) {
    const { deps, counters } = ctx;
    const hop = deps.fused;
    const scorer = new AlertScorer(deps, counters, hop ? SENSORS : ENRICHED);
    await scorer.init();
    if (hop) {
      // Fused with this process's enrich stage: it hands its batches over in its own round, until this stage stops.
      return hop.serve(scorer, ctx.signal, ctx.ready);
    }
    await consumeUntilStopped(ctx, ENRICHED, "alert", (batch, out) => scorer.handle(batch, out), { onAssignment: (partitions) => scorer.assign(partitions) });
  },
});
