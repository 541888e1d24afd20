import { Hono } from "hono";
import { errorMessage } from "../core/errors.js";
import type { Peer, StageState } from "../domain/stage-status.js";

/** What /healthz looks at: handed over by app.ts, so the route knows nothing of the store or the supervisor behind them. */
export interface HealthDeps {
  /** Answers the store's engine when a trivial read succeeds; throws otherwise. */
  probeStore(): Promise<string>;
  stageState(name: string): StageState;
  peers(now: number): Peer[];
  /** Stages this process is meant to run: one of them failing makes the process unhealthy. */
  essentialStages: readonly string[];
}

/**
 * GET /healthz: each part of this process, and every other process sharing
 * state.db by its heartbeat. 503 when a part of this process is down; a
 * stale peer (missed its heartbeats: killed, hung, its host down) makes it
 * "degraded" but still 200, since restarting this process would not help.
 */
export function healthRoutes(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const parts: Record<string, { ok: boolean; detail: string }> = {};
    try {
      parts.store = { ok: true, detail: await deps.probeStore() };
    } catch (err) {
      parts.store = { ok: false, detail: errorMessage(err) };
    }
    for (const name of deps.essentialStages) {
      const state = deps.stageState(name);
      // A stage restarting after a crash is degraded but alive; failed or stopped by itself is down.
      parts[`stage:${name}`] = { ok: state === "running" || state === "restarting" || state === "succeeded", detail: state };
    }
    const now = Date.now();
    const processes: Record<string, { ok: boolean; roles: string[]; lastHeartbeatMsAgo: number; detail: string }> = {};
    for (const p of deps.peers(now)) {
      const ago = now - p.heartbeatAt;
      const running = p.stages.filter((s) => s.state === "running").map((s) => s.name);
      processes[`${p.host}:${p.pid}`] = {
        ok: !p.stale,
        roles: p.roles,
        lastHeartbeatMsAgo: ago,
        detail: p.stale ? `stale: no heartbeat for ${(ago / 1000).toFixed(1)} s` : `running: ${running.join(", ") || "nothing"}`,
      };
    }
    const ok = Object.values(parts).every((p) => p.ok);
    const status = !ok ? "down" : Object.values(processes).every((p) => p.ok) ? "ok" : "degraded";
    return c.json({ status, parts, processes }, ok ? 200 : 503);
  });
  return app;
}
