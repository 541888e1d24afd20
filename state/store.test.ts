import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { StoreError } from "../core/errors.js";
import { connection } from "./connection.js";
import { applyMigration, MIGRATIONS } from "./migrations.js";
import { StateStore } from "./store.js";

const TABLES = [
  "api_tokens",
  "audit_log",
  "bot_confirmations",
  "chat_subscriptions",
  "incident_acks",
  "incident_notices",
  "job_runs",
  "rule_meta",
  "rule_versions",
  "rules",
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
  for (const m of MIGRATIONS.slice(0, version)) applyMigration(db, m);
  db.pragma(`user_version = ${userVersion}`);
  db.close();
}

function opened<T>(f: (db: Database.Database) => T): T {
  const s = new StateStore(path);
  try {
    return f(s[connection]);
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

/** stage_runs and job_runs as carwatch made them before they had a host and pid. */
const BEFORE_HOSTS = `
  CREATE TABLE stage_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    params TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    events_in INTEGER NOT NULL DEFAULT 0,
    events_out INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    dead_letters INTEGER NOT NULL DEFAULT 0,
    last_error TEXT);
  CREATE INDEX stage_runs_stage ON stage_runs (stage, run_id);
  CREATE TABLE job_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    outcome TEXT NOT NULL,
    details TEXT);`;

it("migrates a file from before stage runs had a host and pid, keeping its rows and closing its open run", () => {
  const old = new Database(path);
  old.exec(BEFORE_HOSTS);
  old
    .prepare(`INSERT INTO stage_runs (stage, params, trigger, state, started_at, ended_at, events_out) VALUES ('seed', '{}', 'start', 'succeeded', 1, 2, 40)`)
    .run();
  old.prepare(`INSERT INTO stage_runs (stage, params, trigger, state, started_at) VALUES ('enrich', '{}', 'start', 'running', 3)`).run();
  old.prepare(`INSERT INTO job_runs (job, trigger, started_at, ended_at, outcome) VALUES ('compact', 'cron', 1, 2, 'succeeded')`).run();
  old.close();

  const s = new StateStore(path);
  try {
    const db = s[connection];
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(TABLES);
    for (const t of ["stage_runs", "job_runs"]) expect(columns(db, t).slice(-2)).toEqual(["host", "pid"]);
    expect(s.closeAbandonedRuns(10)).toBe(1);
    const fresh = s.startRun("alert", {}, "manual", 11);
    expect(s.recentRuns().map((r) => [r.runId, r.stage, r.state, r.out, r.endedAt])).toEqual([
      [fresh, "alert", "running", 0, null],
      [2, "enrich", "failed", 0, 10],
      [1, "seed", "succeeded", 40, 2],
    ]);
    expect(db.prepare(`SELECT job, outcome, host, pid FROM job_runs`).all()).toEqual([{ job: "compact", outcome: "succeeded", host: "", pid: 0 }]);
  } finally {
    s.close();
  }
});

it("gives stage runs their host and pid in a file the previous version migrated without them", () => {
  // The first migration's CREATE ... IF NOT EXISTS kept the old table: version 8, no host.
  const old = new Database(path);
  old.exec(BEFORE_HOSTS);
  for (const m of MIGRATIONS.slice(0, 8)) applyMigration(old, m);
  old.pragma("user_version = 8");
  expect(columns(old, "stage_runs")).not.toContain("host");
  old.close();
  opened((db) => expect(columns(db, "stage_runs").slice(-2)).toEqual(["host", "pid"]));
});

it("marks runs a dead process left open as failed, and leaves live processes' runs alone", () => {
  const s = new StateStore(path);
  try {
    const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
    const setPid = s[connection].prepare("UPDATE stage_runs SET pid = ? WHERE run_id = ?");
    const mine = s.startRun("flaky", {}, "manual");
    const theirs = s.startRun("flaky", {}, "manual");
    setPid.run(dead, theirs);
    const live = s.startRun("flaky", {}, "manual");
    setPid.run(process.ppid, live);
    expect(s.closeAbandonedRuns()).toBe(1);
    const state = (id: number) => s.recentRuns("flaky").find((r) => r.runId === id);
    expect(state(theirs)).toMatchObject({ state: "failed", lastError: "process ended while running" });
    expect(state(mine)!.state).toBe("running");
    expect(state(live)!.state).toBe("running");
  } finally {
    s.close();
  }
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
