import { Hono } from "hono";
import type { Metrics } from "../core/metrics.js";

/** GET /metrics in Prometheus text format. */
export function metricsRoutes(metrics: Metrics): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => c.body(await metrics.text(), 200, { "content-type": metrics.registry.contentType }));
  return app;
}
