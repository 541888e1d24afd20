import { createTask, type ScheduledTask } from "node-cron";
import { errorMessage, InputError } from "../core/errors.js";
import type { Metrics } from "../core/metrics.js";
import { type JobRun, JobRuns, type JobTrigger } from "../state/job-runs.js";
import type { StateStore } from "../state/store.js";
import type { JobContext, JobDefinition } from "./jobs.js";

export interface ScheduledJob {
  job: JobDefinition;
  /** node-cron expression, validated at start-up (core/config.ts). */
  schedule: string;
}

export interface JobStatus {
  name: string;
  description: string;
  schedule: string;
  timezone: string;
  running: boolean;
  nextRun: number | null;
  last: JobRun | null;
}

/**
 * Runs maintenance jobs on node-cron in this process. A job never overlaps
 * itself (a cron tick during a run is recorded as skipped; a manual run is
 * refused); every run is recorded, and a job that throws is recorded as
 * failed while the scheduler carries on.
 */
export class Scheduler {
  private readonly tasks = new Map<string, { entry: ScheduledJob; task: ScheduledTask | null; running: Promise<JobRun> | null }>();
  readonly runs: JobRuns;

  constructor(
    jobs: readonly ScheduledJob[],
    private readonly ctx: JobContext,
    state: StateStore,
    private readonly timezone = "UTC",
    private readonly metrics?: Metrics,
  ) {
    this.runs = new JobRuns(state);
    for (const entry of jobs) this.tasks.set(entry.job.name, { entry, task: null, running: null });
  }

  start(): void {
    for (const [name, t] of this.tasks) {
      t.task ??= createTask(t.entry.schedule, () => this.trigger(name, "cron"), { name, timezone: this.timezone });
      void t.task.start();
    }
  }

  async stop(): Promise<void> {
    for (const t of this.tasks.values()) {
      await t.task?.destroy();
      t.task = null;
    }
    await Promise.all([...this.tasks.values()].map((t) => t.running));
  }

  /** Runs a job now (operator's request); refuses while it runs. Resolves with the finished run. */
  run(name: string): Promise<JobRun> {
    const t = this.tasks.get(name);
    if (!t) throw new InputError(`unknown job "${name}"; jobs: ${this.names().join(", ")}`);
    if (t.running) throw new InputError(`job ${name} is already running`);
    return this.trigger(name, "manual");
  }

  private trigger(name: string, trigger: JobTrigger): Promise<JobRun> {
    const t = this.tasks.get(name)!;
    if (t.running) {
      const id = this.runs.start(name, trigger);
      this.runs.end(id, "skipped", { reason: "the previous run is still going" });
      this.metrics?.jobRuns.inc({ job: name, outcome: "skipped" });
      return t.running;
    }
    const id = this.runs.start(name, trigger, this.ctx.now());
    const running = (async () => {
      let outcome: "succeeded" | "failed" = "succeeded";
      let details: unknown;
      try {
        details = await t.entry.job.run(this.ctx);
      } catch (err) {
        outcome = "failed";
        details = { error: errorMessage(err) };
        this.ctx.log.error({ err, job: name }, "job failed");
      }
      this.runs.end(id, outcome, details, this.ctx.now());
      this.metrics?.jobRuns.inc({ job: name, outcome });
      return this.runs.recent(name, 1)[0]!;
    })();
    t.running = running;
    void running.finally(() => {
      if (t.running === running) t.running = null;
    });
    return running;
  }

  names(): string[] {
    return [...this.tasks.keys()];
  }

  list(): JobStatus[] {
    return [...this.tasks.values()].map(({ entry, task, running }) => ({
      name: entry.job.name,
      description: entry.job.description,
      schedule: entry.schedule,
      timezone: this.timezone,
      running: running !== null,
      nextRun: task?.getNextRun()?.getTime() ?? null,
      last: this.runs.recent(entry.job.name, 1)[0] ?? null,
    }));
  }
}
