import type { StageStatus } from "../pipeline/supervisor.js";

export type WatchdogProblem = "failing" | "restart-loop" | "stalled";

export interface WatchdogNotice {
  stage: string;
  kind: WatchdogProblem | "recovered";
  message: string;
}

interface Seen {
  in: number;
  restarts: number;
  problem: WatchdogProblem | null;
}

/**
 * Decides, once per check, which stages are in trouble: failing (crashed,
 * waiting to restart or given up), restarting in a loop, or stalled (no
 * progress since the last check while input waits). Each problem is reported
 * once when it starts and once when it ends.
 */
export class Watchdog {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly restartLoopThreshold = 3) {}

  check(stages: readonly StageStatus[]): WatchdogNotice[] {
    const notices: WatchdogNotice[] = [];
    for (const s of stages) {
      const prev = this.seen.get(s.name);
      const problem = this.problem(s, prev);
      if (problem && problem !== prev?.problem) notices.push({ stage: s.name, kind: problem, message: describe(s, problem) });
      if (!problem && prev?.problem) notices.push({ stage: s.name, kind: "recovered", message: `${s.name} recovered: ${s.state}` });
      this.seen.set(s.name, { in: s.counters.in, restarts: s.restarts, problem });
    }
    return notices;
  }

  private problem(s: StageStatus, prev: Seen | undefined): WatchdogProblem | null {
    const grew = prev ? s.restarts - prev.restarts : 0;
    // A loop outranks the crash that caused it, so a flapping stage is one incident, not one per crash.
    if (grew >= this.restartLoopThreshold || (prev?.problem === "restart-loop" && (grew > 0 || s.state !== "running"))) return "restart-loop";
    if (s.state === "failed" || s.state === "restarting") return "failing";
    if (s.state === "running" && prev && s.counters.in === prev.in && s.queueDepth > 0) return "stalled";
    return null;
  }
}

function describe(s: StageStatus, problem: WatchdogProblem): string {
  switch (problem) {
    case "failing":
      return `${s.name} is ${s.state}${s.lastError ? `: ${s.lastError}` : ""}`;
    case "restart-loop":
      return `${s.name} keeps restarting (${s.restarts} restarts)${s.lastError ? `; last error: ${s.lastError}` : ""}`;
    case "stalled":
      return `${s.name} is stalled: no progress since the last check with ${s.queueDepth} messages waiting`;
  }
}
