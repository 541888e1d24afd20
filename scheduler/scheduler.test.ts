import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../core/log.js";
import { Metrics } from "../core/metrics.js";
import { createPipeline, type TestPipeline } from "../test/support/pipeline.js";
import type { JobContext, JobDefinition } from "./jobs.js";
import { Scheduler } from "./scheduler.js";

let p: TestPipeline;
let scheduler: Scheduler | undefined;
beforeEach(() => vi.useFakeTimers({ now: Date.UTC(2026, 10, 28, 2, 59, 30) }));
afterEach(async () => {
  vi.useRealTimers();
  await scheduler?.stop();
  await p?.close();
});

function ctx(p: TestPipeline): JobContext {
  // The jobs here are the tests' own and call no tool.
  return { call: () => Promise.reject(new Error(`no tools in ${p.dir}`)), log: silentLogger, notifyAdmins: async () => undefined, now: () => Date.now() };
}

/** A job whose runs finish only when the test says so. */
function gatedJob(name: string) {
  const started: (() => void)[] = [];
  let calls = 0;
  const job: JobDefinition = {
    name,
    description: "test",
    run: () =>
      new Promise((resolve, reject) => {
        calls++;
        if (calls === 1) started.push(() => reject(new Error("first run fails")));
        else started.push(() => resolve({ call: calls }));
      }),
  };
  return { job, release: () => started.shift()?.(), calls: () => calls };
}

describe("Scheduler", () => {
  it("runs on its cron schedule, records a failed run and still runs the next time", async () => {
    p = await createPipeline();
    const g = gatedJob("nightly");
    const metrics = new Metrics({ defaults: false });
    scheduler = new Scheduler([{ job: g.job, schedule: "0 3 * * *" }], ctx(p), p.state, "UTC", metrics);
    scheduler.start();
    expect(scheduler.list()[0]!.nextRun).toBe(Date.UTC(2026, 10, 28, 3, 0, 0));
    await vi.advanceTimersByTimeAsync(31_000);
    expect(g.calls()).toBe(1);
    g.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.runs.recent("nightly")[0]).toMatchObject({ trigger: "cron", outcome: "failed", details: { error: "first run fails" } });
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(g.calls()).toBe(2);
    g.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.runs.recent("nightly").map((r) => r.outcome)).toEqual(["succeeded", "failed"]);
    expect(await metrics.text()).toContain('carwatch_job_runs_total{job="nightly",outcome="failed"} 1');
  });

  it("never overlaps a job with itself", async () => {
    p = await createPipeline();
    const g = gatedJob("minutely");
    scheduler = new Scheduler([{ job: g.job, schedule: "* * * * *" }], ctx(p), p.state);
    scheduler.start();
    await vi.advanceTimersByTimeAsync(31_000); // 03:00:00 tick: run 1 starts and hangs
    await vi.advanceTimersByTimeAsync(60_000); // 03:01:00 tick: skipped
    expect(g.calls()).toBe(1);
    expect(() => scheduler!.run("minutely")).toThrow(/already running/);
    g.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.runs.recent("minutely").map((r) => [r.trigger, r.outcome])).toEqual([
      ["cron", "skipped"],
      ["cron", "failed"],
    ]);
    const manual = scheduler.run("minutely");
    g.release();
    expect(await manual).toMatchObject({ trigger: "manual", outcome: "succeeded" });
    expect(() => scheduler!.run("nope")).toThrow(/unknown job "nope"; jobs: minutely/);
  });
});
