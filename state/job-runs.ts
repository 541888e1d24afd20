import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { connection } from "./connection.js";
import { isAbandoned, type StateStore } from "./store.js";

export type JobTrigger = "cron" | "manual";
export type JobOutcome = "running" | "succeeded" | "failed" | "skipped";

export interface JobRun {
  runId: number;
  job: string;
  trigger: JobTrigger;
  startedAt: number;
  endedAt: number | null;
  outcome: JobOutcome;
  details: unknown;
}

type Row = { run_id: number; job: string; trigger: JobTrigger; started_at: number; ended_at: number | null; outcome: JobOutcome; details: string | null };

/** The history of maintenance job runs, in the state database. */
export class JobRuns {
  readonly #db: Database.Database;

  constructor(state: StateStore) {
    this.#db = state[connection];
    this.closeAbandoned();
  }

  /**
   * Runs left "running" by a process of this host that is gone: marked
   * failed instead of "running" for ever. Runs of live processes (another
   * scheduler sharing the data directory) are left alone; runs recorded
   * before hosts were (host '') are closed, as they always were.
   */
  closeAbandoned(now = Date.now()): number {
    const open = this.#db.prepare(`SELECT run_id, host, pid FROM job_runs WHERE outcome = 'running' AND host IN (?, '')`).all(hostname()) as {
      run_id: number;
      host: string;
      pid: number;
    }[];
    const close = this.#db.prepare(
      `UPDATE job_runs SET outcome = 'failed', ended_at = ?, details = '{"error":"process ended while running"}' WHERE run_id = ?`,
    );
    let closed = 0;
    for (const r of open) if (r.host === "" || isAbandoned(r.pid)) closed += close.run(now, r.run_id).changes;
    return closed;
  }

  start(job: string, trigger: JobTrigger, now = Date.now()): number {
    return Number(
      this.#db
        .prepare(`INSERT INTO job_runs (job, trigger, started_at, outcome, host, pid) VALUES (?, ?, ?, 'running', ?, ?)`)
        .run(job, trigger, now, hostname(), process.pid).lastInsertRowid,
    );
  }

  end(runId: number, outcome: Exclude<JobOutcome, "running">, details: unknown, now = Date.now()): void {
    this.#db.prepare(`UPDATE job_runs SET ended_at = ?, outcome = ?, details = ? WHERE run_id = ?`).run(now, outcome, JSON.stringify(details ?? null), runId);
  }

  recent(job?: string, limit = 10): JobRun[] {
    const rows = (
      job
        ? this.#db.prepare(`SELECT * FROM job_runs WHERE job = ? ORDER BY run_id DESC LIMIT ?`).all(job, limit)
        : this.#db.prepare(`SELECT * FROM job_runs ORDER BY run_id DESC LIMIT ?`).all(limit)
    ) as Row[];
    return rows.map((r) => ({
      runId: r.run_id,
      job: r.job,
      trigger: r.trigger,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      outcome: r.outcome,
      details: r.details === null ? null : JSON.parse(r.details),
    }));
  }
}
