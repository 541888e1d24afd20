import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfirmationRows } from "../state/confirmations.js";
import { StateStore } from "../state/store.js";
import { StateConfirmationStorage } from "./confirmation-storage.js";
import { Confirmations } from "./confirmations.js";

let dir: string;
let stores: StateStore[];
/** A process's state.db connection: every one opens the same file. */
const open = () => {
  const s = new StateStore(join(dir, "state.db"));
  stores.push(s);
  return s;
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "carwatch-confirm-"));
  stores = [];
});
afterEach(() => {
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("confirmations in state.db", () => {
  const ask = { tool: "stop_stage", input: { stage: "enrich" }, userId: 7, chatId: 70 };

  it("are taken on another process, once, and only by who asked", () => {
    let now = 1_000;
    const here = new Confirmations(new StateConfirmationStorage(open()), 60_000, () => now);
    const there = new Confirmations(new StateConfirmationStorage(open()), 60_000, () => now);
    const token = here.add(ask);
    expect(there.take(token, 8)).toBe("not_yours");
    now += 59_999;
    expect(there.take(token, 7)).toEqual({ ...ask, expiresAt: 61_000 });
    expect(here.take(token, 7)).toBe("unknown");
    expect(there.take(token, 7)).toBe("unknown");
  });

  it("expire: an expired button says so until the next confirmation clears it", () => {
    let now = 1_000;
    const state = open();
    const confirmations = new Confirmations(new StateConfirmationStorage(state), 60_000, () => now);
    const stale = confirmations.add(ask);
    const other = confirmations.add(ask);
    now += 60_000;
    expect(confirmations.take(stale, 7)).toBe("expired");
    const fresh = confirmations.add(ask);
    const rows = new ConfirmationRows(state);
    expect([stale, other, fresh].map((t) => rows.read(t) !== undefined)).toEqual([false, false, true]);
    expect(confirmations.take(other, 7)).toBe("unknown");
  });

  it("answer a row written in another shape as a stale button", () => {
    const state = open();
    const confirmations = new Confirmations(new StateConfirmationStorage(state), 60_000);
    new ConfirmationRows(state).write("old", JSON.stringify({ tool: "stop_stage" }), Date.now() + 60_000);
    expect(confirmations.take("old", 7)).toBe("unknown");
  });
});
