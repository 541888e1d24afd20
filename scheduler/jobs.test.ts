import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { silentLogger } from "../core/log.js";
import { defineStage } from "../pipeline/stage.js";
import { consumeUntilStopped } from "../pipeline/stages/consume.js";
import { STAGES } from "../pipeline/stages/index.js";
import { seededRuleTable } from "../pipeline/stages/rule-runtime.js";
import type { Topic } from "../pipeline/transport/transport.js";
import { OpsState } from "../state/ops-state.js";
import { createPipeline, type TestPipeline } from "../test/support/pipeline.js";
import { createRegistry } from "../tools/index.js";
import { RoleBook, SCHEDULER_USER_ID } from "../tools/roles.js";
import { compactionJob, type JobContext, jobCalls, retentionJob, watchdogJob } from "./jobs.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const DAY = 86_400_000;

/** The jobs' context over a real registry on the test pipeline, as app.ts builds it; `ops` holds its audit log. */
function ctx(p: TestPipeline, notes: string[] = [], ops = new OpsState(p.state)): JobContext {
  const registry = createRegistry({
    supervisor: p.supervisor,
    lakehouse: p.lakehouse,
    ops,
    roles: new RoleBook({ admins: [SCHEDULER_USER_ID], operators: [], viewers: [] }),
    rules: seededRuleTable(p.deps),
    clock: () => NOW,
    log: silentLogger,
    retention: { readingsDays: 7, auditDays: 90 },
  });
  return { call: jobCalls(registry), log: silentLogger, notifyAdmins: async (t) => void notes.push(t), now: () => NOW };
}

const reading = (i: number, t: number) => ({
  event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  event_time: t,
  received_at: t,
  json: "x".repeat(300),
});

describe("maintenance jobs", () => {
  it("retention deletes exactly the rows older than the cut-off, in every retained table", async () => {
    p = await createPipeline();
    const rows = Array.from({ length: 12_000 }, (_, i) => reading(i, NOW - (i % 10) * DAY - 1000));
    const letters = Array.from({ length: 10 }, (_, i) => ({
      id: `dl-${i}`,
      received_at: NOW - i * DAY - 1000,
      stage: "enrich",
      reason: "malformed_json",
      detail: "x",
      payload: "{",
    }));
    await p.lakehouse.write([
      { table: "cars_raw", rows },
      { table: "dead_letters", rows: letters },
    ]);
    const old = rows.filter((r) => r.event_time < NOW - 7 * DAY).length;
    const ops = new OpsState(p.state);
    const entry = { userId: 1, chatId: 1, via: "telegram", tool: "whoami", args: {}, outcome: "ok" as const, message: null, durationMs: 1 };
    for (const age of [100, 91, 89, 1]) ops.audit({ ...entry, at: NOW - age * DAY });
    const details = await retentionJob.run(ctx(p, [], ops));
    expect(details).toEqual({
      cutoff: new Date(NOW - 7 * DAY).toISOString(),
      auditCutoff: new Date(NOW - 90 * DAY).toISOString(),
      deleted: { cars_raw: old, cars_enriched: 0, dead_letters: 3, audit_log: 2 },
    });
    // One implementation, audited like a person's run: the scheduler's own call is in the log.
    expect(ops.recentAudit(3).map((e) => [e.via, e.tool, e.outcome])).toEqual([
      ["scheduler", "apply_retention", "ok"],
      ["telegram", "whoami", "ok"],
      ["telegram", "whoami", "ok"],
    ]);
    expect(old).toBe(3600); // ages 7 d + 1 s, 8 d and 9 d: three in ten
    expect(p.count("telemetry.cars_raw")).toBe(12_000 - old);
    expect(p.count("telemetry.cars_raw", `event_time < '2026-11-21 12:00:00.000'`)).toBe(0);
  });

  it("compaction after a large delete shrinks the file and keeps every remaining row", async () => {
    p = await createPipeline();
    await p.lakehouse.write([{ table: "cars_raw", rows: Array.from({ length: 20_000 }, (_, i) => reading(i, NOW - (i % 2) * 30 * DAY)) }]);
    await retentionJob.run(ctx(p));
    const sumBefore = p.lakehouse.selectSync("SELECT count(*) AS n, sum(length(json)) AS b, min(event_id) AS lo, max(event_id) AS hi FROM telemetry.cars_raw");
    const fileBefore = p.lakehouse.fileBytes("telemetry");
    const details = (await compactionJob.run(ctx(p))) as { tables: { table: string; rows: number; bytesBefore: number; bytesAfter: number }[] };
    expect(details.tables.map((t) => t.table)).toEqual([
      "telemetry.cars_raw",
      "telemetry.cars_enriched",
      "telemetry.alerts",
      "telemetry.incidents",
      "telemetry.alert_windows",
      "telemetry.dead_letters",
    ]);
    expect(details.tables[0]).toMatchObject({ rows: 10_000 });
    expect(p.lakehouse.fileBytes("telemetry")).toBeLessThan(fileBefore / 1.5);
    expect(p.lakehouse.selectSync("SELECT count(*) AS n, sum(length(json)) AS b, min(event_id) AS lo, max(event_id) AS hi FROM telemetry.cars_raw")).toEqual(
      sumBefore,
    );
    expect(p.lakehouse.integrityCheck()).toEqual(["dims: ok", "telemetry: ok"]);
  });

  it("the watchdog reports a stalled stage once, and once when it recovers", async () => {
    const topic: Topic<number> = { name: "work", encode: String, decode: Number };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stuck = defineStage({
      name: "stuck",
      kind: "streaming",
      description: "waits on a gate after its first batch",
      params: z.object({}),
      input: { topic: topic as Topic<unknown>, group: "stuck" },
      run: (c) =>
        consumeUntilStopped(
          c,
          topic,
          "stuck",
          async (batch) => {
            c.counters.countIn(batch.length);
            await gate;
          },
          { maxBatch: 1 },
        ),
    });
    p = await createPipeline({ stages: [...STAGES, stuck] });
    await p.supervisor.start("stuck");
    await p.transport.publish(
      topic,
      [1, 2, 3].map((value) => ({ key: "k", value })),
    );
    const notes: string[] = [];
    const job = watchdogJob();
    await job.run(ctx(p, notes));
    await job.run(ctx(p, notes));
    await job.run(ctx(p, notes));
    expect(notes).toEqual(["⚠️ stuck is stalled: no progress since the last check with 3 messages waiting"]);
    release();
    await p.transport.whenIdle();
    await job.run(ctx(p, notes));
    await job.run(ctx(p, notes));
    expect(notes).toEqual(["⚠️ stuck is stalled: no progress since the last check with 3 messages waiting", "✅ stuck recovered: running"]);
  });
});
