import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { connection } from "./connection.js";
import { SeenUpdates } from "./seen-updates.js";
import { StateStore } from "./store.js";

let dir: string;
let stores: StateStore[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "carwatch-seen-"));
  stores = [];
});
afterEach(() => {
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});
const open = () => {
  const s = new StateStore(join(dir, "state.db"));
  stores.push(s);
  return s;
};

it("takes an update once across processes, per bot, and remembers the newest `window` by arrival", () => {
  const here = new SeenUpdates(open(), 3);
  const there = new SeenUpdates(open(), 3);
  // Arrival order, not id order: ids may restart anywhere after a quiet week.
  for (const id of [50, 51, 52, 10, 11]) expect(here.take(1, id)).toBe(true);
  expect(there.take(1, 11)).toBe(false);
  expect(there.take(2, 11)).toBe(true);
  expect([50, 51, 52, 10, 11].map((id) => here.has(1, id))).toEqual([false, false, false, true, true]);
  expect(here.has(2, 11)).toBe(true);
  expect(stores[0]![connection].prepare("SELECT count(*) FROM telegram_updates_seen").pluck().get()).toBe(3);
});
