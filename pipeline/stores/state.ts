import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StoreError } from "../../core/errors.js";

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

const MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS stage_runs (
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
     last_error TEXT,
     host TEXT NOT NULL DEFAULT '',
     pid INTEGER NOT NULL DEFAULT 0)`,
  `CREATE INDEX IF NOT EXISTS stage_runs_stage ON stage_runs (stage, run_id)`,
];

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
 * carwatch's own state (stage runs; later jobs, subscriptions, chat memory,
 * audit): a local SQLite file in every mode, apart from the lakehouse.
 */
export class StateStore {
  readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 5000");
      for (const m of MIGRATIONS) this.db.exec(m);
    } catch (err) {
      throw new StoreError(`cannot open the state database ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Lets later modules (bot, scheduler) add their own tables. */
  migrate(statements: readonly string[]): void {
    this.db.transaction(() => {
      for (const s of statements) this.db.exec(s);
    })();
  }

  startRun(stage: string, params: unknown, trigger: RunTrigger, now = Date.now()): number {
    const info = this.db
      .prepare(`INSERT INTO stage_runs (stage, params, trigger, state, started_at, host, pid) VALUES (?, ?, ?, 'running', ?, ?, ?)`)
      .run(stage, JSON.stringify(params ?? {}), trigger, now, hostname(), process.pid);
    return Number(info.lastInsertRowid);
  }

  updateRun(runId: number, c: RunCounters, lastError: string | null = null): void {
    this.db
      .prepare(`UPDATE stage_runs SET events_in = ?, events_out = ?, errors = ?, dead_letters = ?, last_error = coalesce(?, last_error) WHERE run_id = ?`)
      .run(c.in, c.out, c.errors, c.deadLetters, lastError, runId);
  }

  endRun(runId: number, state: RunState, c: RunCounters, lastError: string | null = null, now = Date.now()): void {
    this.db
      .prepare(
        `UPDATE stage_runs SET state = ?, ended_at = ?, events_in = ?, events_out = ?, errors = ?, dead_letters = ?, last_error = coalesce(?, last_error) WHERE run_id = ?`,
      )
      .run(state, now, c.in, c.out, c.errors, c.deadLetters, lastError, runId);
  }

  /**
   * Runs left "running" by a process of this host that is gone: marked
   * failed, so history tells the truth. Runs of live processes (several may
   * share a data directory) are left alone.
   */
  closeAbandonedRuns(now = Date.now()): number {
    const open = this.db.prepare(`SELECT run_id, pid FROM stage_runs WHERE state IN ('running', 'queued') AND host = ?`).all(hostname()) as {
      run_id: number;
      pid: number;
    }[];
    const close = this.db.prepare(
      `UPDATE stage_runs SET state = 'failed', ended_at = ?, last_error = coalesce(last_error, 'process ended while running') WHERE run_id = ?`,
    );
    let closed = 0;
    for (const r of open) {
      if (r.pid === process.pid || isAlive(r.pid)) continue;
      closed += close.run(now, r.run_id).changes;
    }
    return closed;
  }

  recentRuns(stage?: string, limit = 10): StageRun[] {
    const rows = stage
      ? this.db.prepare(`SELECT * FROM stage_runs WHERE stage = ? ORDER BY run_id DESC LIMIT ?`).all(stage, limit)
      : this.db.prepare(`SELECT * FROM stage_runs ORDER BY run_id DESC LIMIT ?`).all(limit);
    return (rows as RunRow[]).map(toRun);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
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
