import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { StoreError } from "../core/errors.js";
import { MIGRATIONS } from "./migrations.js";
import { StateStore } from "./store.js";

const TABLES = [
  "api_tokens",
  "audit_log",
  "bot_confirmations",
  "chat_subscriptions",
  "incident_acks",
  "job_runs",
  "silences",
  "stage_commands",
  "stage_processes",
  "stage_runs",
  "stage_status",
  "telegram_updates_seen",
];

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "carwatch-state-"));
  path = join(dir, "state.db");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const tables = (db: Database.Database) =>
  db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all();
const columns = (db: Database.Database, table: string) => db.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).pluck().all(table);

/** A file as a carwatch of `version` left it: its migrations applied by hand. */
function fileAt(version: number, userVersion = version): void {
  const db = new Database(path);
  for (const m of MIGRATIONS.slice(0, version)) db.exec(m.sql);
  db.pragma(`user_version = ${userVersion}`);
  db.close();
}

function opened<T>(f: (db: Database.Database) => T): T {
  const s = new StateStore(path);
  try {
    return f(s.db);
  } finally {
    s.close();
  }
}

it("creates a fresh file at the latest version with every table", () => {
  opened((db) => {
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(TABLES);
    expect(columns(db, "job_runs")).toEqual(["run_id", "job", "trigger", "started_at", "ended_at", "outcome", "details", "host", "pid"]);
  });
});

it("migrates a file from before versions (tables, user_version 0) forward once, keeping its rows", () => {
  // What carwatch left before job runs had a host and pid: the seven CREATE ... IF NOT EXISTS groups, no version.
  fileAt(7, 0);
  const old = new Database(path);
  old.prepare(`INSERT INTO job_runs (job, trigger, started_at, outcome) VALUES ('compact', 'cron', 1, 'succeeded')`).run();
  old.close();

  opened((db) => {
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(TABLES);
    expect(db.prepare(`SELECT job, outcome, host, pid FROM job_runs`).all()).toEqual([{ job: "compact", outcome: "succeeded", host: "", pid: 0 }]);
  });
  // Opened again, nothing is applied twice (the ALTER TABLEs would fail on their own columns).
  opened((db) => {
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(columns(db, "job_runs").filter((c) => c === "host")).toEqual(["host"]);
  });
});

it("applies only the migrations after a file's version", () => {
  fileAt(3);
  opened((db) => {
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(TABLES);
  });
});

it("refuses a file a newer carwatch wrote, and leaves it as it was", () => {
  const newer = MIGRATIONS.length + 1;
  fileAt(0, newer);
  let refusal: unknown;
  try {
    new StateStore(path);
  } catch (err) {
    refusal = err;
  }
  expect(refusal).toBeInstanceOf(StoreError);
  expect((refusal as StoreError).retriable).toBe(false);
  expect((refusal as StoreError).message).toBe(
    `the state database ${path} is at version ${newer}, newer than this carwatch's ${MIGRATIONS.length}: it was written by a newer carwatch, and carwatch cannot downgrade it`,
  );
  const db = new Database(path);
  expect(db.pragma("user_version", { simple: true })).toBe(newer);
  expect(tables(db)).toEqual([]);
  db.close();
});
