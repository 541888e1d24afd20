import type { StateStore } from "../pipeline/stores/state.js";

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
  constructor(private readonly state: StateStore) {
    state.migrate([
      `CREATE TABLE IF NOT EXISTS job_runs (
         run_id INTEGER PRIMARY KEY AUTOINCREMENT,
         job TEXT NOT NULL,
         trigger TEXT NOT NULL,
         started_at INTEGER NOT NULL,
         ended_at INTEGER,
         outcome TEXT NOT NULL,
         details TEXT)`,
      `CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs (job, run_id)`,
      // A process that died mid-run leaves it open; say so instead of "running" forever.
      `UPDATE job_runs SET outcome = 'failed', details = '{"error":"process ended while running"}' WHERE outcome = 'running'`,
    ]);
  }

  start(job: string, trigger: JobTrigger, now = Date.now()): number {
    return Number(
      this.state.db.prepare(`INSERT INTO job_runs (job, trigger, started_at, outcome) VALUES (?, ?, ?, 'running')`).run(job, trigger, now).lastInsertRowid,
    );
  }

  end(runId: number, outcome: Exclude<JobOutcome, "running">, details: unknown, now = Date.now()): void {
    this.state.db
      .prepare(`UPDATE job_runs SET ended_at = ?, outcome = ?, details = ? WHERE run_id = ?`)
      .run(now, outcome, JSON.stringify(details ?? null), runId);
  }

  recent(job?: string, limit = 10): JobRun[] {
    const rows = (
      job
        ? this.state.db.prepare(`SELECT * FROM job_runs WHERE job = ? ORDER BY run_id DESC LIMIT ?`).all(job, limit)
        : this.state.db.prepare(`SELECT * FROM job_runs ORDER BY run_id DESC LIMIT ?`).all(limit)
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
