import type { StageDefinition } from "../stage.js";
import { aggregateStage } from "./aggregate.js";
import { alertStage } from "./alert.js";
import { enrichStage } from "./enrich.js";
import { generatorStage } from "./generator.js";
import { seedStage } from "./seed.js";

/** Every stage, sources first: stopAll stops in this order, start-up starts in reverse. */
export const STAGES: readonly StageDefinition[] = [seedStage, generatorStage, enrichStage, alertStage, aggregateStage] as StageDefinition[];

export const STREAMING_ORDER = ["generator", "enrich", "alert", "aggregate"] as const;
