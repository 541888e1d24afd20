import type { StageStatus } from "../domain/stage-status.js";
import { processName, THIS_PROCESS } from "../domain/stage-status.js";

type StageProblem = "failing" | "restart-loop" | "stalled";
export type WatchdogProblem = StageProblem | "stale";

export interface WatchdogNotice {
  /** The stage, or for a stale process the stages it published, comma-separated. */
  stage: string;
  kind: WatchdogProblem | "recovered";
  message: string;
}

interface Seen {
  in: number;
  restarts: number;
  problem: WatchdogProblem | null;
  /** How a notice names it: "enrich", "enrich (host pid 7)", "host pid 7". */
  label: string;
  stages: string;
}

/**
 * Decides, once per check, which stages are in trouble: failing (crashed,
 * waiting to restart or given up), restarting in a loop, or stalled (no
 * progress since the last check while input waits); and which processes
 * went stale (missed their heartbeats: one notice for the process, its
 * frozen statuses not judged). Each problem is reported once when it starts
 * and once when it ends.
 */
export class Watchdog {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly restartLoopThreshold = 3) {}

  check(stages: readonly StageStatus[], now = Date.now()): WatchdogNotice[] {
    const notices: WatchdogNotice[] = [];
    const listed = new Set<string>();
    for (const [key, rows] of staleProcesses(stages)) {
      listed.add(key);
      for (const s of rows) listed.add(stageKey(s));
      if (this.seen.get(key)?.problem === "stale") continue;
      const stageNames = rows.map((s) => s.name).join(", ");
      const ago = Math.round((now - Math.max(...rows.map((s) => s.seenAt ?? 0))) / 100) / 10;
      const label = processName(rows[0]!);
      notices.push({ stage: stageNames, kind: "stale", message: `${label} (${stageNames}) missed its heartbeats: last seen ${ago} s ago` });
      this.seen.set(key, { in: 0, restarts: 0, problem: "stale", label, stages: stageNames });
    }
    for (const s of stages) {
      if (s.stale) continue;
      const key = stageKey(s);
      listed.add(key);
      const prev = this.seen.get(key);
      const problem = this.problem(s, prev);
      const label = s.pid === null || (s.host === THIS_PROCESS.host && s.pid === THIS_PROCESS.pid) ? s.name : `${s.name} (${processName(s)})`;
      if (problem && problem !== prev?.problem) notices.push({ stage: s.name, kind: problem, message: describe(s, label, problem) });
      if (!problem && prev?.problem) notices.push({ stage: s.name, kind: "recovered", message: `${label} recovered: ${s.state}` });
      this.seen.set(key, { in: s.counters.in, restarts: s.restarts, problem, label, stages: s.name });
    }
    // A process that sends heartbeats again, or left, or was replaced: whatever it was in is over.
    for (const [key, seen] of this.seen) {
      if (listed.has(key)) continue;
      this.seen.delete(key);
      if (!seen.problem) continue;
      const back = seen.problem === "stale" && stages.some((s) => processKey(s) === key);
      notices.push({ stage: seen.stages, kind: "recovered", message: `${seen.label} ${back ? "sends heartbeats again" : "is no longer listed"}` });
    }
    return notices;
  }

  private problem(s: StageStatus, prev: Seen | undefined): StageProblem | null {
    const grew = prev ? s.restarts - prev.restarts : 0;
    // A loop outranks the crash that caused it, so a flapping stage is one incident, not one per crash.
    if (grew >= this.restartLoopThreshold || (prev?.problem === "restart-loop" && (grew > 0 || s.state !== "running"))) return "restart-loop";
    if (s.state === "failed" || s.state === "restarting") return "failing";
    if (s.state === "running" && prev && s.counters.in === prev.in && s.queueDepth > 0) return "stalled";
    return null;
  }
}

const processKey = (s: StageStatus) => `process ${s.host} ${s.pid}`;
const stageKey = (s: StageStatus) => (s.pid === null ? s.name : `${s.name} ${s.host} ${s.pid}`);

function staleProcesses(stages: readonly StageStatus[]): Map<string, StageStatus[]> {
  const out = new Map<string, StageStatus[]>();
  for (const s of stages) if (s.stale) out.set(processKey(s), [...(out.get(processKey(s)) ?? []), s]);
  return out;
}

function describe(s: StageStatus, label: string, problem: StageProblem): string {
  switch (problem) {
    case "failing":
      return `${label} is ${s.state}${s.lastError ? `: ${s.lastError}` : ""}`;
    case "restart-loop":
      return `${label} keeps restarting (${s.restarts} restarts)${s.lastError ? `; last error: ${s.lastError}` : ""}`;
    case "stalled":
      return `${label} is stalled: no progress since the last check with ${s.queueDepth} messages waiting`;
  }
}
