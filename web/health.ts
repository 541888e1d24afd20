import { Hono } from "hono";
import { errorMessage } from "../core/errors.js";
import type { Lakehouse } from "../pipeline/stores/lakehouse.js";
import type { Supervisor } from "../pipeline/supervisor.js";

export interface HealthDeps {
  lakehouse: Lakehouse;
  supervisor: Supervisor;
  /** Stages this process is meant to run: one of them failing makes the process unhealthy. */
  essentialStages: readonly string[];
}

/** GET /healthz: each part's state; 503 when something essential is down. */
export function healthRoutes(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const parts: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await deps.lakehouse.select("SELECT 1 AS one");
      parts.store = { ok: true, detail: deps.lakehouse.dialect };
    } catch (err) {
      parts.store = { ok: false, detail: errorMessage(err) };
    }
    for (const name of deps.essentialStages) {
      const s = deps.supervisor.status(name);
      // A stage restarting after a crash is degraded but alive; failed or stopped by itself is down.
      parts[`stage:${name}`] = { ok: s.state === "running" || s.state === "restarting" || s.state === "succeeded", detail: s.state };
    }
    const ok = Object.values(parts).every((p) => p.ok);
    return c.json({ status: ok ? "ok" : "down", parts }, ok ? 200 : 503);
  });
  return app;
}
