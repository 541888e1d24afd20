import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stagesView } from "../bot/views.js";
import type { StageStatus } from "../domain/stage-status.js";
import type { Caller } from "../tools/registry.js";
import { appForTests } from "./support/app.js";
import { startCarwatchWorker } from "./support/carwatch-process.js";
import type { Child } from "./support/child.js";

// The split layout on one DATA_DIR: the chat side and the scheduler here (in the test's process), the stages in a worker process.
const ADMIN = 41;
// Short, so the kill is seen within a second; long enough that a busy machine does not make a live worker look stale.
const HEARTBEAT_MS = "250";
const t = appForTests({
  CARWATCH_ROLES: "bot,http,scheduler",
  TELEGRAM_ADMINS: String(ADMIN),
  STAGE_HEARTBEAT_MS: HEARTBEAT_MS,
  // Never by cron during the test: the checks below run the watchdog themselves.
  WATCHDOG_SCHEDULE: "0 0 1 1 *",
});
const as: Caller = { userId: ADMIN, chatId: ADMIN, via: "telegram" };
const host = hostname();
const here = `${host} pid ${process.pid}`;

let worker: Child;
let wpid: number;
let there: string;
beforeAll(async () => {
  worker = await startCarwatchWorker({ DATA_DIR: t.dir, CARWATCH_ROLES: "enrich,alert,aggregate", STAGE_HEARTBEAT_MS: HEARTBEAT_MS });
  wpid = worker.proc.pid!;
  there = `${host} pid ${wpid}`;
});
afterAll(async () => {
  if (worker.proc.exitCode === null && worker.proc.signalCode === null) {
    worker.proc.kill("SIGKILL");
    await worker.exited;
  }
});

const list = () => t.app.registry.call("list_stages", {}, as);
const placed = (rows: readonly StageStatus[]) => rows.map((s) => [s.name, s.state, s.host, s.pid, s.stale]);
const watchdog = async () => ((await t.app.scheduler!.run("watchdog")).details as { notices: unknown[] }).notices;
const health = async () => {
  const res = await fetch(`${t.app.url}/healthz`);
  return { code: res.status, body: (await res.json()) as { status: string; processes: Record<string, { ok: boolean; roles: string[]; detail: string }> } };
};

describe("stages across processes", () => {
  it("list_stages shows the worker's stages running, with its host and pid", async () => {
    expect(placed(await list())).toEqual([
      ["seed", "succeeded", host, process.pid, false],
      ["seed", "succeeded", host, wpid, false],
      ["generator", "idle", null, null, false],
      ["enrich", "running", host, wpid, false],
      ["alert", "running", host, wpid, false],
      ["aggregate", "running", host, wpid, false],
    ]);
    expect(await t.app.registry.call("stage_status", { stage: "enrich" }, as)).toMatchObject({ state: "running", host, pid: wpid, stale: false });
    // /stages (Telegram and the console) names the process of each row.
    expect(stagesView(await list())).toContain(`${host}:${wpid}`);
    // This process never runs them: its own slots stay idle.
    expect(t.app.supervisor.list().map((s) => s.state)).toEqual(["succeeded", "idle", "idle", "idle", "idle"]);
  });

  it("routes stop and start to the worker, which answers with its status", async () => {
    const stopped = await t.app.registry.call("stop_stage", { stage: "enrich" }, as, { confirmed: true });
    expect(stopped).toMatchObject({ name: "enrich", state: "stopped", host, pid: wpid });
    expect(placed(await list()).filter(([name]) => name === "enrich")).toEqual([["enrich", "stopped", host, wpid, false]]);
    await expect(t.app.registry.call("stop_stage", { stage: "enrich" }, as, { confirmed: true })).rejects.toThrow(
      `stage enrich is not running (stopped in ${there})`,
    );

    const started = await t.app.registry.call("start_stage", { stage: "enrich" }, as);
    expect(started).toMatchObject({ name: "enrich", state: "running", host, pid: wpid });
    expect(started.runId).toBeGreaterThan(stopped.runId!);
    expect(t.app.supervisor.status("enrich").state).toBe("idle");
    await expect(t.app.registry.call("start_stage", { stage: "enrich" }, as)).rejects.toThrow(`stage enrich is already running in ${there}`);
    // The run history is shared: the worker's two runs of enrich, newest first.
    expect(t.app.supervisor.history("enrich").map((r) => [r.trigger, r.state])).toEqual([
      ["manual", "running"],
      ["start", "stopped"],
    ]);
  });

  it("never starts a stage in a process whose roles lack it, and says which roles it has", async () => {
    await expect(t.app.registry.call("start_stage", { stage: "generator" }, as)).rejects.toThrow(
      `generator runs only in a process whose CARWATCH_ROLES include generator: this one (${here}) has bot,http,scheduler, and no live process has it`,
    );
    await expect(t.app.registry.call("start_stage", { stage: "generator", pid: wpid }, as)).rejects.toThrow(
      `${there}: generator runs only in a process whose CARWATCH_ROLES include generator: this one (${there}) has enrich,alert,aggregate`,
    );
    await expect(t.app.supervisor.start("enrich")).rejects.toThrow(
      `enrich runs only in a process whose CARWATCH_ROLES include enrich: this one (${here}) has bot,http,scheduler`,
    );
    expect(t.app.supervisor.history("generator")).toEqual([]);
  });

  it("sees the worker go stale once it is killed: the watchdog tells once, /healthz says degraded", async () => {
    expect(await watchdog()).toEqual([]);
    const before = await health();
    expect(before).toMatchObject({
      code: 200,
      body: { status: "ok", processes: { [`${host}:${wpid}`]: { ok: true, roles: ["enrich", "alert", "aggregate"] } } },
    });
    expect(before.body.processes[`${host}:${wpid}`]!.detail).toBe("running: enrich, alert, aggregate");

    worker.proc.kill("SIGKILL");
    await worker.exited;
    await vi.waitFor(async () => expect((await list()).filter((s) => s.pid === wpid && s.stale)).toHaveLength(4), { timeout: 5000, interval: 50 });

    const notices = await watchdog();
    expect(notices).toEqual([{ stage: "seed, enrich, alert, aggregate", kind: "stale", message: expect.stringMatching(/ s ago$/) }]);
    expect((notices[0] as { message: string }).message).toMatch(
      new RegExp(`^${there} \\(seed, enrich, alert, aggregate\\) missed its heartbeats: last seen \\d+(\\.\\d)? s ago$`),
    );
    expect(await watchdog()).toEqual([]);

    const after = await health();
    expect(after).toMatchObject({ code: 200, body: { status: "degraded", processes: { [`${host}:${wpid}`]: { ok: false } } } });
    expect(after.body.processes[`${host}:${wpid}`]!.detail).toMatch(/^stale: no heartbeat for \d+\.\d s$/);

    await expect(t.app.registry.call("stop_stage", { stage: "alert" }, as, { confirmed: true })).rejects.toThrow(
      `alert last ran in ${there}, which missed its heartbeats: it cannot be stopped from here`,
    );
    await expect(t.app.registry.call("start_stage", { stage: "alert" }, as)).rejects.toThrow(
      `alert runs only in a process whose CARWATCH_ROLES include alert: this one (${here}) has bot,http,scheduler, and no live process has it; ${there} missed its heartbeats`,
    );
    await expect(t.app.registry.call("start_stage", { stage: "alert", pid: wpid }, as)).rejects.toThrow(`${there} missed its heartbeats: it cannot be reached`);
  });
});
