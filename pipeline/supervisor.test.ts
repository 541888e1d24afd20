import { hostname } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { StageState } from "../domain/stage-status.js";
import { createPipeline, type TestPipeline } from "../test/support/pipeline.js";
import { defineStage } from "./stage.js";
import { STAGES } from "./stages/index.js";
import { Supervisor } from "./supervisor.js";

let p: TestPipeline;
afterEach(async () => p?.close());

let crashesLeft = 0;
const flaky = defineStage({
  name: "flaky",
  kind: "streaming",
  description: "crashes a given number of times, then runs until stopped",
  params: z.object({ n: z.number().int().default(1) }),
  async run({ signal, counters }) {
    counters.countIn(1);
    if (crashesLeft-- > 0) throw new Error(`crash ${crashesLeft}`);
    await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
  },
});
const once = defineStage({
  name: "once",
  kind: "batch",
  description: "finishes at once",
  params: z.object({}),
  async run({ counters }) {
    counters.out = 3;
  },
});

const until = (p: TestPipeline, name: string, state: StageState) =>
  new Promise<void>((resolve) => {
    if (p.supervisor.status(name).state === state) return resolve();
    const on = (n: string, s: StageState) => {
      if (n === name && s === state) {
        p.supervisor.off("state", on);
        resolve();
      }
    };
    p.supervisor.on("state", on);
  });

describe("Supervisor", () => {
  it("moves through idle → running → stopped and records the run", async () => {
    crashesLeft = 0;
    p = await createPipeline({ stages: [flaky, once] });
    expect(p.supervisor.status("flaky").state).toBe("idle");
    await p.supervisor.start("flaky", { n: 2 });
    expect(p.supervisor.status("flaky")).toMatchObject({ state: "running", params: { n: 2 } });
    await expect(p.supervisor.start("flaky")).rejects.toThrow(/already running/);
    await p.supervisor.stop("flaky");
    expect(p.supervisor.status("flaky").state).toBe("stopped");
    await expect(p.supervisor.stop("flaky")).rejects.toThrow(/not running/);
    const [run] = p.supervisor.history("flaky");
    expect(run).toMatchObject({ stage: "flaky", state: "stopped", trigger: "manual", params: { n: 2 }, in: 1 });
    expect(run!.endedAt).not.toBeNull();
  });

  it("refuses bad params and unknown stages with a clear message", async () => {
    p = await createPipeline({ stages: [flaky] });
    await expect(p.supervisor.start("flaky", { n: "two" })).rejects.toThrow(/invalid params for flaky: n: /);
    await expect(p.supervisor.start("nope")).rejects.toThrow(/unknown stage "nope"; stages: flaky/);
    expect(p.supervisor.history("flaky")).toHaveLength(0);
  });

  it("restarts a crashing streaming stage with backoff and records each failure", async () => {
    crashesLeft = 2;
    p = await createPipeline({ stages: [flaky] });
    const crashes: string[] = [];
    p.supervisor.on("crash", (_n, err: Error) => crashes.push(err.message));
    await p.supervisor.start("flaky");
    await until(p, "flaky", "restarting");
    await until(p, "flaky", "running");
    await until(p, "flaky", "restarting");
    await until(p, "flaky", "running");
    expect(crashes).toEqual(["crash 1", "crash 0"]);
    expect(p.supervisor.status("flaky")).toMatchObject({ state: "running", restarts: 2, lastError: "crash 0" });
    const runs = p.supervisor.history("flaky");
    expect(runs.map((r) => [r.state, r.trigger])).toEqual([
      ["running", "restart"],
      ["failed", "restart"],
      ["failed", "manual"],
    ]);
    expect(runs[1]!.lastError).toBe("crash 0");
  });

  it("runs a batch stage to completion", async () => {
    p = await createPipeline({ stages: [once] });
    await p.supervisor.start("once");
    expect(await p.supervisor.waitFor("once")).toMatchObject({ state: "succeeded", counters: { out: 3 } });
    expect(p.supervisor.history("once")[0]).toMatchObject({ state: "succeeded", out: 3 });
  });

  it("never starts a stage its process's roles lack, naming them; a stage without a role (seed) runs anywhere", async () => {
    p = await createPipeline();
    const chatSide = new Supervisor(STAGES, p.deps, {}, { roles: ["bot", "http"] });
    await expect(chatSide.start("enrich")).rejects.toThrow(
      `enrich runs only in a process whose CARWATCH_ROLES include enrich: this one (${hostname()} pid ${process.pid}) has bot,http`,
    );
    expect(chatSide.history("enrich")).toEqual([]);
    await chatSide.start("seed");
    expect(await chatSide.waitFor("seed")).toMatchObject({ state: "succeeded", host: hostname(), pid: process.pid, stale: false });
    expect(["seed", "generator", "enrich", "alert", "aggregate"].filter((n) => chatSide.runsHere(n))).toEqual(["seed"]);
  });
});
