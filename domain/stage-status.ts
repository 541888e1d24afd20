import { hostname } from "node:os";
import { z } from "zod";
import { ROLES } from "../core/config.js";

/** The process this code runs in, as the shared status names processes. */
export const THIS_PROCESS = { host: hostname(), pid: process.pid } as const;

export const STAGE_STATES = ["idle", "running", "restarting", "succeeded", "failed", "stopped"] as const;
export type StageState = (typeof STAGE_STATES)[number];

const countersSchema = z.object({ in: z.number(), out: z.number(), errors: z.number(), deadLetters: z.number() });

/** What a process publishes of one of its stages (state.db, `stage_status`), parsed when another process reads it. */
export const publishedStatusSchema = z.object({
  name: z.string(),
  kind: z.enum(["streaming", "batch"]),
  description: z.string(),
  state: z.enum(STAGE_STATES),
  runId: z.number().nullable(),
  params: z.unknown(),
  startedAt: z.number().nullable(),
  counters: countersSchema,
  /** Events in per second, over the last 10 s. */
  ratePerSec: z.number(),
  /** Events out per second, over the last 10 s or so. */
  outPerSec: z.number(),
  queueDepth: z.number(),
  lastEventTime: z.number().nullable(),
  restarts: z.number(),
  lastError: z.string().nullable(),
  nextRestartAt: z.number().nullable(),
});
export type PublishedStatus = z.output<typeof publishedStatusSchema>;

export const stageStatusSchema = publishedStatusSchema.extend({
  /** The process it runs in; null when no process runs it (none with its role is up). */
  host: z.string().nullable(),
  pid: z.number().nullable(),
  /** When this status was last known true: now for this process, the last heartbeat for another. */
  seenAt: z.number().nullable(),
  /** Its process missed its heartbeats: the status is the last one it published and may be untrue. */
  stale: z.boolean(),
});
export type StageStatus = z.output<typeof stageStatusSchema>;

/**
 * Where a stage may run: one named after a role (generator, enrich, alert,
 * aggregate) only in a process whose CARWATCH_ROLES include it; the others
 * (seed, idempotent) anywhere.
 */
export function runsIn(roles: readonly string[], stage: string): boolean {
  return !(ROLES as readonly string[]).includes(stage) || roles.includes(stage);
}

/** "host pid N", as messages name a process. */
export function processName(p: { host: string | null; pid: number | null }): string {
  return `${p.host} pid ${p.pid}`;
}

/** A stage that runs nowhere (or not yet): its definition and no run. */
export function idleStatus(def: Pick<StageStatus, "name" | "kind" | "description">): StageStatus {
  return {
    name: def.name,
    kind: def.kind,
    description: def.description,
    state: "idle",
    runId: null,
    params: null,
    startedAt: null,
    counters: { in: 0, out: 0, errors: 0, deadLetters: 0 },
    ratePerSec: 0,
    outPerSec: 0,
    queueDepth: 0,
    lastEventTime: null,
    restarts: 0,
    lastError: null,
    nextRestartAt: null,
    host: null,
    pid: null,
    seenAt: null,
    stale: false,
  };
}

/** A process sharing state.db, as its heartbeat row tells. */
export interface ProcessRef {
  host: string;
  pid: number;
}

export interface Member extends ProcessRef {
  roles: string[];
  startedAt: number;
  heartbeatAt: number;
  heartbeatMs: number;
}

export interface MemberStatus extends Member {
  stages: PublishedStatus[];
}

export interface Peer extends MemberStatus {
  stale: boolean;
}
