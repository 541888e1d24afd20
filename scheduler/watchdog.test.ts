import { describe, expect, it } from "vitest";
import type { StageStatus } from "../domain/stage-status.js";
import { idleStatus } from "../domain/stage-status.js";
import { Watchdog } from "./watchdog.js";

/** A running enrich stage, with what a test sets. */
const st = (over: Partial<StageStatus> & { in?: number }): StageStatus => ({
  ...idleStatus({ name: "enrich", kind: "streaming", description: "" }),
  state: "running",
  runId: 1,
  params: {},
  startedAt: 0,
  counters: { in: over.in ?? 0, out: 0, errors: 0, deadLetters: 0 },
  ...over,
});

describe("Watchdog", () => {
  it("reports a stalled stage once, and once when it recovers", () => {
    const w = new Watchdog();
    expect(w.check([st({ in: 100, queueDepth: 50 })])).toEqual([]);
    expect(w.check([st({ in: 100, queueDepth: 50 })])).toMatchObject([{ stage: "enrich", kind: "stalled" }]);
    expect(w.check([st({ in: 100, queueDepth: 80 })])).toEqual([]);
    expect(w.check([st({ in: 180, queueDepth: 0 })])).toMatchObject([{ stage: "enrich", kind: "recovered" }]);
    expect(w.check([st({ in: 180, queueDepth: 0 })])).toEqual([]);
  });

  it("does not call an idle stage with nothing waiting stalled", () => {
    const w = new Watchdog();
    w.check([st({ in: 5 })]);
    expect(w.check([st({ in: 5 })])).toEqual([]);
  });

  it("reports a failing stage with its error, once", () => {
    const w = new Watchdog();
    w.check([st({})]);
    expect(w.check([st({ state: "restarting", restarts: 1, lastError: "disk full" })])).toEqual([
      { stage: "enrich", kind: "failing", message: "enrich is restarting: disk full" },
    ]);
    expect(w.check([st({ state: "restarting", restarts: 2, lastError: "disk full" })])).toEqual([]);
    expect(w.check([st({ state: "running", restarts: 2 })])).toMatchObject([{ kind: "recovered" }]);
  });

  it("reports a restart loop once while it goes on", () => {
    const w = new Watchdog(3);
    w.check([st({})]);
    expect(w.check([st({ restarts: 4, lastError: "boom" })])).toMatchObject([
      { kind: "restart-loop", message: "enrich keeps restarting (4 restarts); last error: boom" },
    ]);
    expect(w.check([st({ restarts: 5, state: "restarting" })])).toEqual([]);
    expect(w.check([st({ restarts: 5 })])).toMatchObject([{ kind: "recovered" }]);
  });

  it("reports a process that missed its heartbeats once, not its frozen stages, and once when it sends them again", () => {
    const w = new Watchdog();
    const worker = { host: "w1", pid: 7, seenAt: 10_000 };
    const rows = (stale: boolean) => [
      st({ ...worker, stale, in: 5, queueDepth: 9 }),
      st({ ...worker, stale, name: "alert", state: "restarting", restarts: 1, lastError: "disk full" }),
    ];
    expect(w.check(rows(false), 11_000)).toEqual([{ stage: "alert", kind: "failing", message: "alert (w1 pid 7) is restarting: disk full" }]);
    expect(w.check(rows(true), 13_500)).toEqual([
      { stage: "enrich, alert", kind: "stale", message: "w1 pid 7 (enrich, alert) missed its heartbeats: last seen 3.5 s ago" },
    ]);
    expect(w.check(rows(true), 20_000)).toEqual([]);
    const back = [st({ ...worker, in: 9 }), st({ ...worker, name: "alert", restarts: 1 })];
    expect(w.check(back, 21_000)).toEqual([
      { stage: "alert", kind: "recovered", message: "alert (w1 pid 7) recovered: running" },
      { stage: "enrich, alert", kind: "recovered", message: "w1 pid 7 sends heartbeats again" },
    ]);
  });

  it("tells when a stale process is no longer listed (it was replaced or forgotten)", () => {
    const w = new Watchdog();
    w.check([st({ host: "w1", pid: 7, seenAt: 0, stale: true })], 5000);
    expect(w.check([st({ host: "w1", pid: 8 })], 6000)).toEqual([{ stage: "enrich", kind: "recovered", message: "w1 pid 7 is no longer listed" }]);
  });

  it("tells the same stage in two processes apart", () => {
    const w = new Watchdog();
    const two = (state: "running" | "failed") => [st({ host: "w1", pid: 7 }), st({ host: "w2", pid: 7, state })];
    w.check(two("running"));
    expect(w.check(two("failed"))).toEqual([{ stage: "enrich", kind: "failing", message: "enrich (w2 pid 7) is failed" }]);
  });
});
