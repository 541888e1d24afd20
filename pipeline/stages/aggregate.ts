import { z } from "zod";
import type { AlertMessage } from "../../domain/events.js";
import { WINDOW_MS, WindowClock, windowStart } from "../model/windows.js";
import { defineStage } from "../stage.js";
import { ALERTS, WINDOWS } from "../transport/topics.js";
import type { Envelope } from "../transport/transport.js";
import { consumeUntilStopped } from "./consume.js";
import { seededRuleTable } from "./rule-runtime.js";
import { computeWindow } from "./window-row.js";

export const aggregateStage = defineStage({
  name: "aggregate",
  kind: "streaming",
  description:
    "Closes tumbling 1-minute event-time windows behind a watermark, writes one telemetry.alert_windows row per window, and announces it for the digests.",
  params: z.object({
    watermarkSeconds: z.number().min(0).max(3600).optional().describe("how long to wait for late readings; default WATERMARK_SECONDS"),
    idleSeconds: z.number().positive().default(30).describe("a partition silent this long (wall time) stops holding windows open"),
  }),
  input: { topic: ALERTS, group: "aggregate" },
  async run(ctx) {
    const { deps, counters, log } = ctx;
    const { lakehouse, transport } = deps;
    const watermarkMs = ctx.params.watermarkSeconds !== undefined ? ctx.params.watermarkSeconds * 1000 : deps.settings.watermarkMs;
    const [closed] = await lakehouse.select<{ t: unknown }>("SELECT max(window_start) AS t FROM telemetry.alert_windows");
    const [first] = await lakehouse.select<{ t: unknown }>("SELECT min(event_time) AS t FROM telemetry.cars_enriched");
    const nextStart = closed?.t != null ? lakehouse.toMillis(closed.t) + WINDOW_MS : first?.t != null ? windowStart(lakehouse.toMillis(first.t)) : null;
    const clock = new WindowClock(watermarkMs, nextStart, ctx.params.idleSeconds * 1000);
    let late = 0;
    const ruleTable = seededRuleTable(deps);

    await consumeUntilStopped(ctx, ALERTS, "aggregate", async (batch: Envelope<AlertMessage>[]) => {
      counters.countIn(batch.length);
      for (const { value: m } of batch) {
        if (m.kind !== "progress") continue;
        // Alerts for a window already closed arrived late: counted into the next window to close.
        for (const t of m.alertTimes ?? []) if (clock.isLate(t)) late++;
        clock.observe(m.minEventTime, m.maxEventTime, m.source, m.sources);
      }
      for (let start = clock.closable(); start !== null; start = clock.closable()) {
        const row = await computeWindow(
          lakehouse,
          start,
          late,
          ruleTable
            .list()
            .filter((r) => r.enabled)
            .map((r) => r.name),
        );
        const next = await lakehouse.select<{ t: unknown }>("SELECT min(event_time) AS t FROM telemetry.cars_enriched WHERE event_time >= ?", [
          new Date(start + WINDOW_MS),
        ]);
        const nextEvent = next[0]?.t != null ? windowStart(lakehouse.toMillis(next[0].t)) : start + WINDOW_MS;
        // A window without a single reading (the pipeline was down) gets no row and no digest.
        if (row.events > 0) {
          await lakehouse.write([{ table: "alert_windows", rows: [{ ...row, closed_at: Date.now() }] }]);
          await transport.publish(WINDOWS, [{ key: String(start), value: row }]);
          counters.out++;
          late = 0;
        }
        clock.closed(start, nextEvent);
        counters.lastEventTime = start + WINDOW_MS;
        log.debug({ window: new Date(start).toISOString(), events: row.events }, "window closed");
      }
    });
  },
});
