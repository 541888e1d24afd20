import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StoreError } from "../core/errors.js";
import { connection } from "./connection.js";
import { applyMigration, MIGRATIONS } from "./migrations.js";

export type RunState = "queued" | "running" | "succeeded" | "failed" | "stopped";
export type RunTrigger = "start" | "manual" | "restart" | "schedule";

export interface RunCounters {
  in: number;
  out: number;
  errors: number;
  deadLetters: number;
}

export interface StageRun extends RunCounters {
  runId: number;
  stage: string;
  params: unknown;
  trigger: RunTrigger;
  state: RunState;
  startedAt: number;
  endedAt: number | null;
  lastError: string | null;
}

type RunRow = {
  run_id: number;
  stage: string;
  params: string;
  trigger: RunTrigger;
  state: RunState;
  started_at: number;
  ended_at: number | null;
  events_in: number;
  events_out: number;
  errors: number;
  dead_letters: number;
  last_error: string | null;
};

const toRun = (r: RunRow): StageRun => ({
  runId: r.run_id,
  stage: r.stage,
  params: JSON.parse(r.params),
  trigger: r.trigger,
  state: r.state,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  in: r.events_in,
  out: r.events_out,
  errors: r.errors,
  deadLetters: r.dead_letters,
  lastError: r.last_error,
});

/**
 * carwatch's own state (stage runs, job runs, audit, subscriptions, tokens,
 * confirmations, the stage board, chat memory): a local SQLite file in every
 * mode, apart from the lakehouse, its schema in migrations.ts.
 */
export class StateStore {
  /** For state/'s table accessors only. */
  readonly [connection]: Database.Database;

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      // IMMEDIATE: of processes opening one file at once, one migrates and the others then see its version.
      db.transaction(migrate).immediate(db, path);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot open the state database ${path}: ${(err as Error).message}`, { cause: err });
    }
    this[connection] = db;
  }

  startRun(stage: string, params: unknown, trigger: RunTrigger, now = Date.now()): number {
    const info = this[connection]
      .prepare(`INSERT INTO stage_runs (stage, params, trigger, state, started_at, host, pid) VALUES (?, ?, ?, 'running', ?, ?, ?)`)
      .run(stage, JSON.stringify(params ?? {}), trigger, now, hostname(), process.pid);
    return Number(info.lastInsertRowid);
  }

  updateRun(runId: number, c: RunCounters, lastError: string | null = null): void {
    this[connection]
      .prepare(`UPDATE stage_runs SET events_in = ?, events_out = ?, errors = ?, dead_letters = ?, last_error = coalesce(?, last_error) WHERE run_id = ?`)
      .run(c.in, c.out, c.errors, c.deadLetters, lastError, runId);
  }

  endRun(runId: number, state: RunState, c: RunCounters, lastError: string | null = null, now = Date.now()): void {
    this[connection]
      .prepare(
        `UPDATE stage_runs SET state = ?, ended_at = ?, events_in = ?, events_out = ?, errors = ?, dead_letters = ?, last_error = coalesce(?, last_error) WHERE run_id = ?`,
      )
      .run(state, now, c.in, c.out, c.errors, c.deadLetters, lastError, runId);
  }

  /**
   * Runs left "running" by a process of this host that is gone: marked
   * failed, so history tells the truth. Runs of live processes (several may
   * share a data directory) are left alone; runs recorded before hosts were
   * (host '') are closed, as they always were.
   */
  closeAbandonedRuns(now = Date.now()): number {
    const open = this[connection]
      .prepare(`SELECT run_id, host, pid FROM stage_runs WHERE state IN ('running', 'queued') AND host IN (?, '')`)
      .all(hostname()) as { run_id: number; host: string; pid: number }[];
    const close = this[connection].prepare(
      `UPDATE stage_runs SET state = 'failed', ended_at = ?, last_error = coalesce(last_error, 'process ended while running') WHERE run_id = ?`,
    );
    let closed = 0;
    for (const r of open) if (r.host === "" || isAbandoned(r.pid)) closed += close.run(now, r.run_id).changes;
    return closed;
  }

  recentRuns(stage?: string, limit = 10): StageRun[] {
    const rows = stage
      ? this[connection].prepare(`SELECT * FROM stage_runs WHERE stage = ? ORDER BY run_id DESC LIMIT ?`).all(stage, limit)
      : this[connection].prepare(`SELECT * FROM stage_runs ORDER BY run_id DESC LIMIT ?`).all(limit);
    return (rows as RunRow[]).map(toRun);
  }

  close(): void {
    if (this[connection].open) this[connection].close();
  }
}

/** Brings the file from its `user_version` to the latest; refuses a file a newer carwatch wrote. */
function migrate(db: Database.Database, path: string): void {
  const from = db.pragma("user_version", { simple: true }) as number;
  if (from > MIGRATIONS.length) {
    throw new StoreError(
      `the state database ${path} is at version ${from}, newer than this carwatch's ${MIGRATIONS.length}: it was written by a newer carwatch, and carwatch cannot downgrade it`,
    );
  }
  for (const [i, m] of MIGRATIONS.entries()) {
    if (i < from) continue;
    try {
      applyMigration(db, m);
    } catch (err) {
      throw new StoreError(`the state database ${path}: migration ${i + 1} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
    }
  }
  db.pragma(`user_version = ${MIGRATIONS.length}`);
}

/** Whether a run recorded by process `pid` of this host was left open by a process that is gone. */
export function isAbandoned(pid: number): boolean {
  return pid !== process.pid && !isAlive(pid);
}

/** Whether a process with this id exists on this machine. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
