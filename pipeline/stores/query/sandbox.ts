import { type ChildProcess, execFileSync } from "node:child_process";
import { setPriority } from "node:os";
import { InputError, StoreError } from "../../../core/errors.js";
import { tsFork } from "../../../core/ts-module.js";
import type { QueryResult } from "../../../domain/catalog.js";
import type { Row } from "../../../domain/tables.js";
import type { BacktestRequest, BacktestResult } from "../../rules/backtest.js";
import type { QueryOptions } from "../lakehouse.js";
import { RESULT_LIMITS, tooLarge } from "./limits.js";
import type { BacktestWork, QueryEngine, QueryReply, QueryRequest, ToQueryProcess } from "./protocol.js";

type Answer = Extract<QueryReply, { ok: true }>;
/** What a job sends, less the id the sandbox gives it. */
type Work = Omit<QueryRequest, "id"> | Omit<BacktestWork, "id">;

interface Job {
  id: number;
  work: Work;
  timeoutMs: number;
  timer: NodeJS.Timeout;
  resolve: (r: Answer) => void;
  reject: (e: Error) => void;
}

interface Proc {
  child: ChildProcess;
  job: Job | null;
}

export interface SandboxOptions {
  /** Queries running at once, each in its own process. */
  concurrency: number;
  /** Queries waiting for a process at most; more are refused (retriable). */
  queue: number;
}

/**
 * Runs users' SQL in child processes (query/process.ts) that are SIGKILLed
 * at the deadline: a statement inside better-sqlite3 cannot be interrupted,
 * and a killed process holds no lock and burns no core. The processes run at
 * the lowest CPU priority, so a runaway query takes only what the pipeline
 * leaves. One idle process is kept warm; the deadline counts from the call,
 * waiting included.
 */
export class QuerySandbox {
  private readonly idle: Proc[] = [];
  private readonly busy = new Set<Proc>();
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly engine: QueryEngine,
    private readonly options: SandboxOptions = { concurrency: 2, queue: 8 },
  ) {}

  /** `params` (plain values for `?`) only for carwatch's own SQL. */
  async run(sql: string, { maxRows, timeoutMs }: QueryOptions, params: readonly unknown[] = []): Promise<QueryResult> {
    const r = await this.submit({ kind: "query", sql, params, maxRows, timeoutMs });
    if ("backtest" in r) throw new StoreError("the query process answered a query with a backtest");
    return { columns: r.columns, rows: r.rows, truncated: r.truncated, elapsedMs: r.elapsedMs };
  }

  /** Rules over the stored readings of a range, in the same processes (and pool) as users' queries. */
  async backtest(backtest: BacktestRequest, timeoutMs: number): Promise<BacktestResult> {
    const r = await this.submit({ kind: "backtest", backtest, timeoutMs });
    if (!("backtest" in r)) throw new StoreError("the query process answered a backtest with rows");
    return r.backtest;
  }

  private submit(work: Work): Promise<Answer> {
    if (this.closed) return Promise.reject(new StoreError("the lakehouse is closed"));
    if (this.waiting.length >= this.options.queue) {
      return Promise.reject(
        new StoreError(`${this.busy.size + this.waiting.length} queries are already running or waiting; try again shortly`, { retriable: true }),
      );
    }
    return new Promise<Answer>((resolve, reject) => {
      const { timeoutMs } = work;
      const job: Job = { id: this.nextId++, work, timeoutMs, resolve, reject, timer: setTimeout(() => this.expire(job), timeoutMs) };
      this.waiting.push(job);
      this.pump();
    });
  }

  /**
   * Carwatch's own read (a chart's aggregate), in the same processes and
   * under the same budget as users' queries: rows as objects, and more than
   * `maxRows` an error, never a silent cut.
   */
  async rows<T extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<T[]> {
    const r = await this.run(sql, options, params);
    if (r.truncated) throw new StoreError(`a read of carwatch's returned more than ${options.maxRows} rows: ${sql}`);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])) as T);
  }

  /** Process ids of the query processes alive now (tests check that none outlives its query). */
  pids(): number[] {
    return [...this.idle, ...this.busy].map((p) => p.child.pid!).filter((pid) => pid !== undefined);
  }

  private pump(): void {
    while (this.waiting.length > 0 && (this.idle.length > 0 || this.busy.size < this.options.concurrency)) {
      const proc = this.idle.pop() ?? this.spawn();
      const job = this.waiting.shift()!;
      proc.job = job;
      this.busy.add(proc);
      proc.child.send({ ...job.work, id: job.id } as ToQueryProcess);
    }
  }

  private spawn(): Proc {
    const child = tsFork(new URL("./process.js", import.meta.url), ["--max-old-space-size=64"]);
    const proc: Proc = { child, job: null };
    confine(child.pid!);
    // Never keeps carwatch alive on its own; close() ends it.
    child.unref();
    child.channel?.unref();
    child.on("message", (r: QueryReply) => {
      const job = proc.job;
      if (!job || r.id !== job.id) return;
      this.release(proc);
      if (r.ok) job.resolve(r);
      else job.reject(r.input ? new InputError(r.message) : new StoreError(r.message));
    });
    child.on("exit", (code, signal) => {
      this.forget(proc);
      const job = proc.job;
      if (!job) return;
      proc.job = null;
      clearTimeout(job.timer);
      // Killed by the kernel or aborted by V8: it ran out of memory, almost always on a too large result.
      const oom = signal === "SIGABRT" || signal === "SIGSEGV" || signal === "SIGTRAP" || code === 134;
      job.reject(
        oom
          ? tooLarge(`the query needed more than ${RESULT_LIMITS.memoryMb} MiB`)
          : new StoreError(`the query process ended (${signal ?? `code ${code}`}) before answering`, { retriable: true }),
      );
      this.pump();
    });
    child.send({ engine: this.engine } satisfies ToQueryProcess);
    return proc;
  }

  /** A process done with its job: kept warm if it is the only idle one, else ended. */
  private release(proc: Proc): void {
    clearTimeout(proc.job!.timer);
    proc.job = null;
    this.busy.delete(proc);
    if (this.idle.length === 0 && !this.closed) this.idle.push(proc);
    else this.kill(proc);
    this.pump();
  }

  private expire(job: Job): void {
    const queued = this.waiting.indexOf(job);
    if (queued >= 0) this.waiting.splice(queued, 1);
    const proc = [...this.busy].find((p) => p.job === job);
    if (proc) {
      proc.job = null;
      this.kill(proc);
    }
    job.reject(new StoreError(`the query ran longer than ${job.timeoutMs} ms and was stopped`));
    this.pump();
  }

  private kill(proc: Proc): void {
    this.forget(proc);
    proc.child.kill("SIGKILL");
  }

  private forget(proc: Proc): void {
    this.busy.delete(proc);
    const i = this.idle.indexOf(proc);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Ends every query process at once; queries in hand or waiting are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) {
      clearTimeout(job.timer);
      job.reject(new StoreError("the lakehouse is closing"));
    }
    const procs = [...this.idle, ...this.busy];
    await Promise.all(
      procs.map((p) => {
        const job = p.job;
        p.job = null;
        if (job) {
          clearTimeout(job.timer);
          job.reject(new StoreError("the lakehouse is closing"));
        }
        const gone = new Promise<void>((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once("exit", () => r())));
        this.kill(p);
        return gone;
      }),
    );
  }
}

let prlimit = true;
/**
 * Lowest CPU priority, so the pipeline's threads come first on a busy
 * machine, and a cap on the process's data segment (util-linux's prlimit:
 * Node cannot set a child's rlimits), past which SQLite's allocations fail
 * with SQLITE_NOMEM instead of growing with a huge value or sort.
 */
function confine(pid: number): void {
  try {
    setPriority(pid, 19);
  } catch {
    // Not allowed here: it runs at normal priority.
  }
  if (!prlimit) return;
  const bytes = RESULT_LIMITS.memoryMb << 20;
  try {
    execFileSync("prlimit", ["--pid", String(pid), `--data=${bytes}:${bytes}`], { stdio: "ignore" });
  } catch {
    // No prlimit (not Linux): the JavaScript heap stays capped, SQLite's memory does not.
    prlimit = false;
  }
}
