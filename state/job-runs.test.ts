import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { connection } from "./connection.js";
import { JobRuns } from "./job-runs.js";
import { StateStore } from "./store.js";

let dir: string;
let state: StateStore;
let live: ChildProcess;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "carwatch-job-runs-"));
  state = new StateStore(join(dir, "state.db"));
  live = spawn(process.execPath, ["-e", "setInterval(() => {}, 60_000)"], { stdio: "ignore" });
});
afterEach(async () => {
  if (live.exitCode === null && live.signalCode === null) {
    live.kill();
    await once(live, "exit");
  }
  state.close();
  rmSync(dir, { recursive: true, force: true });
});

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid!;
}

it("at start-up closes the running job runs of this host's dead processes only", async () => {
  const dead = await deadPid();
  const insert = state[connection].prepare(`INSERT INTO job_runs (job, trigger, started_at, outcome, host, pid) VALUES (?, 'cron', 1, 'running', ?, ?)`);
  insert.run("dead-here", hostname(), dead);
  insert.run("live-here", hostname(), live.pid);
  insert.run("other-host", `not-${hostname()}`, dead);
  insert.run("before-hosts", "", 0);
  const runs = new JobRuns(state);
  runs.start("this-process", "manual", 2);

  new JobRuns(state); // a second scheduler starting beside this one
  const outcomes = state[connection].prepare(`SELECT job, outcome, ended_at, details FROM job_runs ORDER BY run_id`).all() as { ended_at: number | null }[];
  const failed = { outcome: "failed", details: '{"error":"process ended while running"}' };
  expect(outcomes.map(({ ended_at, ...r }) => ({ ...r, ended: ended_at !== null }))).toEqual([
    { job: "dead-here", ...failed, ended: true },
    { job: "live-here", outcome: "running", details: null, ended: false },
    { job: "other-host", outcome: "running", details: null, ended: false },
    { job: "before-hosts", ...failed, ended: true },
    { job: "this-process", outcome: "running", details: null, ended: false },
  ]);
  expect(runs.closeAbandoned()).toBe(0);

  live.kill();
  await once(live, "exit");
  expect(runs.closeAbandoned()).toBe(1);
  expect(runs.recent("live-here")[0]?.outcome).toBe("failed");
});
