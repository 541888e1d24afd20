import { describe, expect, it } from "vitest";
import type { StageStatus } from "../pipeline/supervisor.js";
import { Watchdog } from "./watchdog.js";

const st = (over: Partial<StageStatus> & { in?: number }): StageStatus => ({
  name: "enrich",
  kind: "streaming",
  description: "",
  state: "running",
  runId: 1,
  params: {},
  startedAt: 0,
  counters: { in: over.in ?? 0, out: 0, errors: 0, deadLetters: 0 },
  ratePerSec: 0,
  queueDepth: 0,
  lastEventTime: null,
  restarts: 0,
  lastError: null,
  nextRestartAt: null,
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
});
